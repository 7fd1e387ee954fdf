// The reference cpu kernels: straightforward loops that mirror the PyTorch definitions. Slow on purpose; every
// fast path and every other backend is checked against these.
#include <cassert>
#include <cmath>
#include <limits>

#include "backends/cpu/kernel_args.h"
#include "core/error.h"

namespace websd::cpu {
namespace {

std::vector<float> param(const KernelArgs& a, size_t i) {
  const Node& n = a.input_node(i);
  std::vector<float> v(size_t(n.shape.numel()));
  if (const WeightData* w = a.weight(i))
    expand_weight(*w, 0, v.size(), v.data());
  else
    convert_to_f32(n.dtype, a.in[i], v.data(), v.size());
  return v;
}

float gelu_erf(float x) { return 0.5f * x * (1.0f + std::erf(x * float(M_SQRT1_2))); }
float sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }

// y += r for linear and conv2d with a residual input (graph.h).
void add_residual(const KernelArgs& a) {
  if (!a.n.p.residual) return;
  const float* r = static_cast<const float*>(a.in.back());
  float* y = a.out_f32();
  for (int64_t i = 0; i < a.n.shape.numel(); ++i) y[i] += r[i];
}

void linear(const KernelArgs& a) {
  const Shape& ws = a.input_shape(1);
  const int64_t N = ws[0], K = ws[1], M = a.n.shape.numel() / N;
  std::vector<float> w = param(a, 1);
  std::vector<float> b = has_bias(a.n) ? param(a, 2) : std::vector<float>(size_t(N), 0.0f);
  const float* x = a.in_f32(0);
  float* y = a.out_f32();
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      float s = 0;
      for (int64_t k = 0; k < K; ++k) s += x[m * K + k] * w[size_t(n * K + k)];
      y[m * N + n] = s + b[size_t(n)];
    }
}

void conv2d(const KernelArgs& a) {
  const Shape& xs = a.input_shape(0);
  const Shape& ws = a.input_shape(1);
  const Shape& ys = a.n.shape;
  const int64_t B = xs[0], C = xs[1], H = xs[2], W = xs[3];
  const int64_t O = ws[0], KH = ws[2], KW = ws[3], HO = ys[2], WO = ys[3];
  const int stride = a.n.p.stride, pad = a.n.p.pad;
  std::vector<float> w = param(a, 1);
  std::vector<float> b = has_bias(a.n) ? param(a, 2) : std::vector<float>(size_t(O), 0.0f);
  const float* x = a.in_f32(0);
  float* y = a.out_f32();
  for (int64_t bi = 0; bi < B; ++bi)
    for (int64_t o = 0; o < O; ++o)
      for (int64_t oy = 0; oy < HO; ++oy)
        for (int64_t ox = 0; ox < WO; ++ox) {
          float s = b[size_t(o)];
          for (int64_t c = 0; c < C; ++c)
            for (int64_t ky = 0; ky < KH; ++ky)
              for (int64_t kx = 0; kx < KW; ++kx) {
                int64_t iy = oy * stride - pad + ky, ix = ox * stride - pad + kx;
                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                s += x[((bi * C + c) * H + iy) * W + ix] * w[size_t(((o * C + c) * KH + ky) * KW + kx)];
              }
          y[((bi * O + o) * HO + oy) * WO + ox] = s;
        }
}

void group_norm(const KernelArgs& a) {
  const Shape& s = a.n.shape;
  const int64_t B = s[0], C = s[1], G = a.n.p.groups, S = s.numel() / (B * C), CG = C / G;
  std::vector<float> gamma = param(a, 1), beta = param(a, 2);
  const float* x = a.in_f32(0);
  float* y = a.out_f32();
  for (int64_t b = 0; b < B; ++b)
    for (int64_t g = 0; g < G; ++g) {
      const float* xg = x + (b * C + g * CG) * S;
      float* yg = y + (b * C + g * CG) * S;
      double sum = 0, sq = 0;
      for (int64_t i = 0; i < CG * S; ++i) sum += xg[i];
      double mean = sum / double(CG * S);
      for (int64_t i = 0; i < CG * S; ++i) sq += (xg[i] - mean) * (xg[i] - mean);
      float inv = float(1.0 / std::sqrt(sq / double(CG * S) + a.n.p.eps));
      for (int64_t c = 0; c < CG; ++c)
        for (int64_t i = 0; i < S; ++i) {
          float v = (xg[c * S + i] - float(mean)) * inv * gamma[size_t(g * CG + c)] + beta[size_t(g * CG + c)];
          yg[c * S + i] = a.n.p.act == Act::kSilu ? v * sigmoid(v) : v;
        }
    }
}

void layer_norm(const KernelArgs& a) {
  const int64_t C = a.n.shape.dims.back(), R = a.n.shape.numel() / C;
  std::vector<float> gamma = param(a, 1), beta = param(a, 2);
  const float* x = a.in_f32(0);
  float* y = a.out_f32();
  for (int64_t r = 0; r < R; ++r) {
    double sum = 0, sq = 0;
    for (int64_t c = 0; c < C; ++c) sum += x[r * C + c];
    double mean = sum / double(C);
    for (int64_t c = 0; c < C; ++c) sq += (x[r * C + c] - mean) * (x[r * C + c] - mean);
    float inv = float(1.0 / std::sqrt(sq / double(C) + a.n.p.eps));
    for (int64_t c = 0; c < C; ++c)
      y[r * C + c] = (x[r * C + c] - float(mean)) * inv * gamma[size_t(c)] + beta[size_t(c)];
  }
}

void attention(const KernelArgs& a) {
  const Shape& qs = a.input_shape(0);
  const Shape& ks = a.input_shape(1);
  const int64_t B = qs[0], LQ = qs[1], LK = ks[1], C = qs[2], H = a.n.p.heads, D = C / H;
  const float *q = a.in_f32(0), *k = a.in_f32(1), *v = a.in_f32(2);
  float* y = a.out_f32();
  std::vector<float> p(static_cast<size_t>(LK));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t i = 0; i < LQ; ++i) {
        float mx = -std::numeric_limits<float>::infinity();
        for (int64_t j = 0; j < LK; ++j) {
          float s = 0;
          for (int64_t d = 0; d < D; ++d) s += q[(b * LQ + i) * C + h * D + d] * k[(b * LK + j) * C + h * D + d];
          s *= a.n.p.scale;
          if (a.n.p.causal && j > i) s = -std::numeric_limits<float>::infinity();
          p[size_t(j)] = s;
          mx = std::max(mx, s);
        }
        double total = 0;
        for (int64_t j = 0; j < LK; ++j) total += p[size_t(j)] = std::exp(p[size_t(j)] - mx);
        for (int64_t d = 0; d < D; ++d) {
          double acc = 0;
          for (int64_t j = 0; j < LK; ++j) acc += p[size_t(j)] * v[(b * LK + j) * C + h * D + d];
          y[(b * LQ + i) * C + h * D + d] = float(acc / total);
        }
      }
}

void elementwise(const KernelArgs& a) {
  const int64_t n = a.n.shape.numel();
  const float* x = a.in_f32(0);
  float* y = a.out_f32();
  switch (a.n.op) {
    case Op::kAdd: {
      std::vector<float> b = param(a, 1);
      const int64_t nb = int64_t(b.size());
      for (int64_t i = 0; i < n; ++i) y[i] = x[i] + b[size_t(i % nb)];
      return;
    }
    case Op::kMul: {
      const float* b = a.in_f32(1);
      const int64_t nb = a.input_shape(1).numel();
      for (int64_t i = 0; i < n; ++i) y[i] = x[i] * b[i % nb];
      return;
    }
    case Op::kScale:
      for (int64_t i = 0; i < n; ++i) y[i] = x[i] * a.n.p.scale;
      return;
    case Op::kSilu:
      for (int64_t i = 0; i < n; ++i) y[i] = x[i] * sigmoid(x[i]);
      return;
    case Op::kGelu:
      for (int64_t i = 0; i < n; ++i) y[i] = gelu_erf(x[i]);
      return;
    case Op::kRelu:
      for (int64_t i = 0; i < n; ++i) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
      return;
    case Op::kQuickGelu:
      for (int64_t i = 0; i < n; ++i) y[i] = x[i] * sigmoid(1.702f * x[i]);
      return;
    default:
      assert(false);
  }
}

void add_channel(const KernelArgs& a) {
  const Shape& s = a.n.shape;
  const int64_t BC = s[0] * s[1], S = s[2] * s[3];
  std::vector<float> b = param(a, 1);
  const float* x = a.in_f32(0);
  float* y = a.out_f32();
  for (int64_t i = 0; i < BC; ++i)
    for (int64_t j = 0; j < S; ++j) y[i * S + j] = x[i * S + j] + b[size_t(i)];
}

void geglu(const KernelArgs& a) {
  const int64_t D = a.n.shape.dims.back(), R = a.n.shape.numel() / D;
  const float* x = a.in_f32(0);
  float* y = a.out_f32();
  for (int64_t r = 0; r < R; ++r)
    for (int64_t d = 0; d < D; ++d) y[r * D + d] = x[r * 2 * D + d] * gelu_erf(x[r * 2 * D + D + d]);
}

void layout(const KernelArgs& a) {
  const float* x = a.in_f32(0);
  float* y = a.out_f32();
  const Shape& s = a.n.shape;
  switch (a.n.op) {
    case Op::kUpsample: {
      const Shape& xs = a.input_shape(0);
      const int64_t BC = s[0] * s[1], HO = s[2], WO = s[3], HI = xs[2], WI = xs[3];
      for (int64_t i = 0; i < BC; ++i)
        for (int64_t oy = 0; oy < HO; ++oy)
          for (int64_t ox = 0; ox < WO; ++ox)
            y[(i * HO + oy) * WO + ox] = x[(i * HI + oy * HI / HO) * WI + ox * WI / WO];
      return;
    }
    case Op::kConcat: {
      const Shape& as = a.input_shape(0);
      const Shape& bs = a.input_shape(1);
      const int64_t inner = s.numel() / (s[0] * s[1]);
      const int64_t na = as[1] * inner, nb = bs[1] * inner;
      const float* b = a.in_f32(1);
      for (int64_t i = 0; i < s[0]; ++i) {
        for (int64_t j = 0; j < na; ++j) y[i * (na + nb) + j] = x[i * na + j];
        for (int64_t j = 0; j < nb; ++j) y[i * (na + nb) + na + j] = b[i * nb + j];
      }
      return;
    }
    case Op::kSlice: {
      const Shape& xs = a.input_shape(0);
      const int64_t inner = xs.numel() / (xs[0] * xs[1]);
      for (int64_t i = 0; i < s[0]; ++i)
        for (int64_t j = 0; j < s[1] * inner; ++j) y[i * s[1] * inner + j] = x[(i * xs[1] + a.n.p.begin) * inner + j];
      return;
    }
    case Op::kToTokens: {  // [B,C,H,W] -> [B,HW,C]
      const Shape& xs = a.input_shape(0);
      const int64_t B = xs[0], C = xs[1], S = xs[2] * xs[3];
      for (int64_t b = 0; b < B; ++b)
        for (int64_t c = 0; c < C; ++c)
          for (int64_t i = 0; i < S; ++i) y[(b * S + i) * C + c] = x[(b * C + c) * S + i];
      return;
    }
    case Op::kToImage: {  // [B,HW,C] -> [B,C,H,W]
      const int64_t B = s[0], C = s[1], S = s[2] * s[3];
      for (int64_t b = 0; b < B; ++b)
        for (int64_t c = 0; c < C; ++c)
          for (int64_t i = 0; i < S; ++i) y[(b * C + c) * S + i] = x[(b * S + i) * C + c];
      return;
    }
    default:
      assert(false);
  }
}

void embedding(const KernelArgs& a) {
  const Shape& ts = a.input_shape(0);
  const int64_t V = ts[0], D = ts[1], L = a.input_shape(1).numel();
  const int32_t* ids = static_cast<const int32_t*>(a.in[1]);
  const WeightData* table = a.weight(0);
  float* y = a.out_f32();
  for (int64_t i = 0; i < L; ++i) {
    if (ids[i] < 0 || ids[i] >= V)
      throw Error(ErrorCode::kInvalidArgument,
                  "token id " + std::to_string(ids[i]) + " is outside the vocabulary of " + std::to_string(V));
    expand_weight(*table, size_t(ids[i] * D), size_t(D), y + i * D);
  }
}

}  // namespace

std::vector<float> small_param_f32(const KernelArgs& a, size_t i) { return param(a, i); }

void run_reference(const KernelArgs& a) {
  switch (a.n.op) {
    case Op::kInput:
    case Op::kWeight: return;
    case Op::kLinear: linear(a); return add_residual(a);
    case Op::kConv2d: conv2d(a); return add_residual(a);
    case Op::kGroupNorm: return group_norm(a);
    case Op::kLayerNorm: return layer_norm(a);
    case Op::kAttention: return attention(a);
    case Op::kAdd:
    case Op::kMul:
    case Op::kScale:
    case Op::kSilu:
    case Op::kGelu:
    case Op::kRelu:
    case Op::kQuickGelu: return elementwise(a);
    case Op::kAddChannel: return add_channel(a);
    case Op::kGeglu: return geglu(a);
    case Op::kUpsample:
    case Op::kConcat:
    case Op::kSlice:
    case Op::kToTokens:
    case Op::kToImage: return layout(a);
    case Op::kEmbedding: return embedding(a);
  }
}

}  // namespace websd::cpu
