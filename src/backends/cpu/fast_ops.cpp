// Fast cpu kernels: matrix work goes through sgemm (blocked, threaded), convolutions through a chunked im2col
// (never the whole column matrix), attention through query blocks (never the whole score matrix), and the
// memory-bound ops are threaded loops. Weights stored as f16/bf16 are expanded into scratch per op.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "backends/cpu/gemm.h"
#include "backends/cpu/kernel_args.h"
#include "backends/cpu/vec_math.h"
#include "core/error.h"

namespace websd::cpu {
namespace {

constexpr size_t kIm2colBytes = 8u << 20;     // column chunk of a 3×3 convolution
constexpr size_t kScoreBytes = 16u << 20;     // score tile of one attention query block
constexpr int64_t kAttentionRows = 256;       // query rows per block: enough for sgemm, small enough to share
constexpr int64_t kElementGrain = 1 << 14;    // elements per thread chunk below which threads do not pay off

size_t weight_expansion_bytes(const Graph& g, TensorId w) {
  const Node& n = g.node(w);
  return n.dtype == DType::kF32 ? 0 : size_t(n.shape.numel()) * sizeof(float);
}

// The weight as f32: the stored bytes when they already are f32, else expanded into `scratch` (threaded).
const float* weight_f32(const KernelArgs& a, size_t i, float*& scratch) {
  const Node& w = a.input_node(i);
  if (w.dtype == DType::kF32) return a.in_f32(i);
  float* dst = scratch;
  const int64_t n = w.shape.numel();
  scratch += n;
  const uint8_t* src = static_cast<const uint8_t*>(a.in[i]);
  const size_t es = dtype_size(w.dtype);
  a.pool.parallel_for(n, [&](int64_t b, int64_t e, int) { convert_to_f32(w.dtype, src + b * es, dst + b, size_t(e - b)); },
                      kElementGrain);
  return dst;
}

// Output rows per im2col chunk: whole rows, so that each column row is a few contiguous copies.
int64_t conv_chunk_rows(const Node& n, const Shape& ws) {
  const int64_t K = ws[1] * ws[2] * ws[3], WO = n.shape[3];
  return std::clamp<int64_t>(int64_t(kIm2colBytes / sizeof(float)) / (K * WO), 1, n.shape[2]);
}

bool is_pointwise_conv(const Node& n, const Shape& ws) {
  return ws[2] == 1 && ws[3] == 1 && n.p.stride == 1 && n.p.pad == 0;
}

int64_t attention_block(const Shape& q, const Shape& k) {
  return std::min(q[1], std::clamp<int64_t>(int64_t(kScoreBytes / sizeof(float)) / k[1], 16, kAttentionRows));
}

void add_bias_rows(const KernelArgs& a, float* y, int64_t rows, int64_t cols, const std::vector<float>& bias) {
  a.pool.parallel_for(rows, [&](int64_t b, int64_t e, int) {
    for (int64_t r = b; r < e; ++r)
      for (int64_t c = 0; c < cols; ++c) y[r * cols + c] += bias[size_t(c)];
  }, std::max<int64_t>(1, kElementGrain / cols));
}

void linear(const KernelArgs& a) {
  const Shape& ws = a.input_shape(1);
  const int64_t N = ws[0], K = ws[1], M = a.n.shape.numel() / N;
  float* scratch = static_cast<float*>(a.scratch);
  const float* w = weight_f32(a, 1, scratch);
  sgemm(a.pool, Trans::kNo, Trans::kYes, M, N, K, a.in_f32(0), K, w, K, a.out_f32(), N, false);
  if (a.has_input(2)) add_bias_rows(a, a.out_f32(), M, N, small_param_f32(a, 2));
}

void conv2d(const KernelArgs& a) {
  const Shape& xs = a.input_shape(0);
  const Shape& ws = a.input_shape(1);
  const int64_t B = xs[0], C = xs[1], H = xs[2], W = xs[3];
  const int64_t O = ws[0], KH = ws[2], KW = ws[3], HO = a.n.shape[2], WO = a.n.shape[3], P = HO * WO;
  const int64_t K = C * KH * KW;
  const int stride = a.n.p.stride, pad = a.n.p.pad;
  float* scratch = static_cast<float*>(a.scratch);
  const float* w = weight_f32(a, 1, scratch);
  float* col = scratch;
  const float* x = a.in_f32(0);
  float* y = a.out_f32();
  const int64_t chunk_rows = conv_chunk_rows(a.n, ws);
  for (int64_t b = 0; b < B; ++b) {
    const float* xb = x + b * C * H * W;
    float* yb = y + b * O * P;
    if (is_pointwise_conv(a.n, ws)) {
      sgemm(a.pool, Trans::kNo, Trans::kNo, O, P, C, w, C, xb, P, yb, P, false);
      continue;
    }
    for (int64_t oy0 = 0; oy0 < HO; oy0 += chunk_rows) {
      const int64_t rows = std::min(chunk_rows, HO - oy0), pc = rows * WO, p0 = oy0 * WO;
      // col[k][(oy - oy0)·WO + ox] = x[c][oy·stride - pad + ky][ox·stride - pad + kx], k = (c, ky, kx)
      a.pool.parallel_for(K, [&](int64_t kb, int64_t ke, int) {
        for (int64_t k = kb; k < ke; ++k) {
          const int64_t c = k / (KH * KW), ky = (k / KW) % KH, kx = k % KW;
          // Output columns whose input column lies inside the image: ox in [ox_lo, ox_hi).
          const int64_t ox_lo = std::clamp<int64_t>((pad - kx + stride - 1) / stride, 0, WO);
          const int64_t ox_hi = std::clamp<int64_t>((W + pad - kx + stride - 1) / stride, ox_lo, WO);
          for (int64_t r = 0; r < rows; ++r) {
            float* dst = col + k * pc + r * WO;
            const int64_t iy = (oy0 + r) * stride - pad + ky;
            if (iy < 0 || iy >= H) {
              std::fill(dst, dst + WO, 0.0f);
              continue;
            }
            const float* src = xb + (c * H + iy) * W - pad + kx;
            std::fill(dst, dst + ox_lo, 0.0f);
            if (stride == 1)
              std::copy(src + ox_lo, src + ox_hi, dst + ox_lo);
            else
              for (int64_t ox = ox_lo; ox < ox_hi; ++ox) dst[ox] = src[ox * stride];
            std::fill(dst + ox_hi, dst + WO, 0.0f);
          }
        }
      }, 4);
      sgemm(a.pool, Trans::kNo, Trans::kNo, O, pc, K, w, K, col, pc, yb + p0, P, false);
    }
  }
  if (a.has_input(2)) {
    std::vector<float> bias = small_param_f32(a, 2);
    a.pool.parallel_for(B * O, [&](int64_t lo, int64_t hi, int) {
      for (int64_t r = lo; r < hi; ++r) {
        const float bv = bias[size_t(r % O)];
        for (int64_t i = 0; i < P; ++i) y[r * P + i] += bv;
      }
    });
  }
}

void attention(const KernelArgs& a) {
  const Shape& qs = a.input_shape(0);
  const Shape& ks = a.input_shape(1);
  const int64_t B = qs[0], LQ = qs[1], LK = ks[1], C = qs[2], H = a.n.p.heads, D = C / H;
  const int64_t block = attention_block(qs, ks);
  const float scale = a.n.p.scale;
  const bool causal = a.n.p.causal;
  float* s = static_cast<float*>(a.scratch);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h) {
      const float* q = a.in_f32(0) + b * LQ * C + h * D;
      const float* k = a.in_f32(1) + b * LK * C + h * D;
      const float* v = a.in_f32(2) + b * LK * C + h * D;
      float* y = a.out_f32() + b * LQ * C + h * D;
      for (int64_t i0 = 0; i0 < LQ; i0 += block) {
        const int64_t rows = std::min(block, LQ - i0);
        sgemm(a.pool, Trans::kNo, Trans::kYes, rows, LK, D, q + i0 * C, C, k, C, s, LK, false);
        a.pool.parallel_for(rows, [&](int64_t lo, int64_t hi, int) {
          for (int64_t r = lo; r < hi; ++r) {
            float* row = s + r * LK;
            const int64_t valid = causal ? std::min(LK, i0 + r + 1) : LK;
            softmax_row(row, valid, scale);
            for (int64_t j = valid; j < LK; ++j) row[j] = 0;
          }
        }, std::max<int64_t>(1, 4096 / LK));
        sgemm(a.pool, Trans::kNo, Trans::kNo, rows, D, LK, s, LK, v, C, y + i0 * C, C, false);
      }
    }
}

void group_norm(const KernelArgs& a) {
  const Shape& sh = a.n.shape;
  const int64_t B = sh[0], C = sh[1], G = a.n.p.groups, S = sh.numel() / (B * C), CG = C / G;
  std::vector<float> gamma = small_param_f32(a, 1), beta = small_param_f32(a, 2);
  const float* x = a.in_f32(0);
  float* y = a.out_f32();
  const bool silu = a.n.p.act == Act::kSilu;
  a.pool.parallel_for(B * G, [&](int64_t lo, int64_t hi, int) {
    for (int64_t bg = lo; bg < hi; ++bg) {
      const int64_t g = bg % G;
      const float* xg = x + bg * CG * S;
      float* yg = y + bg * CG * S;
      double sum = 0;
      for (int64_t i = 0; i < CG * S; ++i) sum += xg[i];
      const float mean = float(sum / double(CG * S));
      double sq = 0;
      for (int64_t i = 0; i < CG * S; ++i) sq += double(xg[i] - mean) * double(xg[i] - mean);
      const float inv = float(1.0 / std::sqrt(sq / double(CG * S) + a.n.p.eps));
      for (int64_t c = 0; c < CG; ++c) {
        const float mul = inv * gamma[size_t(g * CG + c)], add = beta[size_t(g * CG + c)] - mean * mul;
        const float* xr = xg + c * S;
        float* yr = yg + c * S;
        if (silu)
          for (int64_t i = 0; i < S; ++i) {
            yr[i] = fast_silu(xr[i] * mul + add);
          }
        else
          for (int64_t i = 0; i < S; ++i) yr[i] = xr[i] * mul + add;
      }
    }
  });
}

void layer_norm(const KernelArgs& a) {
  const int64_t C = a.n.shape.dims.back(), R = a.n.shape.numel() / C;
  std::vector<float> gamma = small_param_f32(a, 1), beta = small_param_f32(a, 2);
  const float* x = a.in_f32(0);
  float* y = a.out_f32();
  a.pool.parallel_for(R, [&](int64_t lo, int64_t hi, int) {
    for (int64_t r = lo; r < hi; ++r) {
      const float* xr = x + r * C;
      float* yr = y + r * C;
      float sum = 0;
      for (int64_t c = 0; c < C; ++c) sum += xr[c];
      const float mean = sum / float(C);
      float sq = 0;
      for (int64_t c = 0; c < C; ++c) sq += (xr[c] - mean) * (xr[c] - mean);
      const float inv = 1.0f / std::sqrt(sq / float(C) + a.n.p.eps);
      for (int64_t c = 0; c < C; ++c) yr[c] = (xr[c] - mean) * inv * gamma[size_t(c)] + beta[size_t(c)];
    }
  }, std::max<int64_t>(1, kElementGrain / C));
}

template <typename F>
void map(const KernelArgs& a, F f) {
  const float* x = a.in_f32(0);
  float* y = a.out_f32();
  a.pool.parallel_for(a.n.shape.numel(), [&](int64_t lo, int64_t hi, int) {
    for (int64_t i = lo; i < hi; ++i) y[i] = f(x[i], i);
  }, kElementGrain);
}

bool elementwise(const KernelArgs& a) {
  switch (a.n.op) {
    case Op::kAdd: {
      if (a.input_dtype(1) != DType::kF32) return false;  // a stored tensor (position embedding): rare, small
      const float* b = a.in_f32(1);
      const int64_t nb = a.input_shape(1).numel();
      if (nb == a.n.shape.numel())
        map(a, [b](float x, int64_t i) { return x + b[i]; });
      else
        map(a, [b, nb](float x, int64_t i) { return x + b[i % nb]; });
      return true;
    }
    case Op::kMul: {
      const float* b = a.in_f32(1);
      map(a, [b](float x, int64_t i) { return x * b[i]; });
      return true;
    }
    case Op::kScale: {
      const float s = a.n.p.scale;
      map(a, [s](float x, int64_t) { return x * s; });
      return true;
    }
    case Op::kSilu: map(a, [](float x, int64_t) { return fast_silu(x); }); return true;
    case Op::kGelu: map(a, [](float x, int64_t) { return fast_gelu(x); }); return true;
    case Op::kQuickGelu: map(a, [](float x, int64_t) { return x / (1.0f + fast_exp(-1.702f * x)); }); return true;
    default: return false;
  }
}

void add_channel(const KernelArgs& a) {
  const int64_t BC = a.n.shape[0] * a.n.shape[1], S = a.n.shape[2] * a.n.shape[3];
  const float* x = a.in_f32(0);
  const float* b = a.in_f32(1);
  float* y = a.out_f32();
  a.pool.parallel_for(BC, [&](int64_t lo, int64_t hi, int) {
    for (int64_t i = lo; i < hi; ++i)
      for (int64_t j = 0; j < S; ++j) y[i * S + j] = x[i * S + j] + b[i];
  });
}

void geglu(const KernelArgs& a) {
  const int64_t D = a.n.shape.dims.back(), R = a.n.shape.numel() / D;
  const float* x = a.in_f32(0);
  float* y = a.out_f32();
  a.pool.parallel_for(R, [&](int64_t lo, int64_t hi, int) {
    for (int64_t r = lo; r < hi; ++r)
      for (int64_t d = 0; d < D; ++d) y[r * D + d] = x[r * 2 * D + d] * fast_gelu(x[r * 2 * D + D + d]);
  }, std::max<int64_t>(1, kElementGrain / D));
}

// [B,C,S] <-> [B,S,C] in cache-friendly 32×32 tiles.
void transpose_planes(const KernelArgs& a, int64_t B, int64_t R, int64_t Cc) {
  const float* x = a.in_f32(0);
  float* y = a.out_f32();
  constexpr int64_t T = 32;
  const int64_t tr = (R + T - 1) / T;
  a.pool.parallel_for(B * tr, [&](int64_t lo, int64_t hi, int) {
    for (int64_t t = lo; t < hi; ++t) {
      const int64_t b = t / tr, r0 = (t % tr) * T, r1 = std::min(R, r0 + T);
      const float* xb = x + b * R * Cc;
      float* yb = y + b * R * Cc;
      for (int64_t c0 = 0; c0 < Cc; c0 += T)
        for (int64_t r = r0; r < r1; ++r)
          for (int64_t c = c0; c < std::min(Cc, c0 + T); ++c) yb[c * R + r] = xb[r * Cc + c];
    }
  });
}

bool layout(const KernelArgs& a) {
  const Shape& s = a.n.shape;
  switch (a.n.op) {
    case Op::kToTokens: transpose_planes(a, s[0], a.input_shape(0)[1], s[1]); return true;
    case Op::kToImage: transpose_planes(a, s[0], s[2] * s[3], s[1]); return true;
    case Op::kUpsample: {
      const float* x = a.in_f32(0);
      float* y = a.out_f32();
      const int64_t HO = s[2], WO = s[3], HI = a.input_shape(0)[2], WI = a.input_shape(0)[3];
      a.pool.parallel_for(s[0] * s[1] * HO, [&](int64_t lo, int64_t hi, int) {
        for (int64_t r = lo; r < hi; ++r) {
          const float* src = x + (r / HO * HI + (r % HO) * HI / HO) * WI;
          float* dst = y + r * WO;
          for (int64_t ox = 0; ox < WO; ++ox) dst[ox] = src[ox * WI / WO];
        }
      }, 16);
      return true;
    }
    case Op::kConcat: {
      const int64_t inner = s.numel() / (s[0] * s[1]);
      const int64_t na = a.input_shape(0)[1] * inner, nb = a.input_shape(1)[1] * inner;
      float* y = a.out_f32();
      for (int64_t i = 0; i < s[0]; ++i) {
        std::memcpy(y + i * (na + nb), a.in_f32(0) + i * na, size_t(na) * sizeof(float));
        std::memcpy(y + i * (na + nb) + na, a.in_f32(1) + i * nb, size_t(nb) * sizeof(float));
      }
      return true;
    }
    default: return false;
  }
}

}  // namespace

size_t fast_scratch_bytes(const Graph& g, const Node& n) {
  switch (n.op) {
    case Op::kLinear: return weight_expansion_bytes(g, n.inputs[1]);
    case Op::kConv2d: {
      const Shape& ws = g.shape(n.inputs[1]);
      size_t col = is_pointwise_conv(n, ws) ? 0
                                            : size_t(ws[1] * ws[2] * ws[3] * conv_chunk_rows(n, ws) * n.shape[3]) *
                                                  sizeof(float);
      return weight_expansion_bytes(g, n.inputs[1]) + col;
    }
    case Op::kAttention: {
      const Shape& q = g.shape(n.inputs[0]);
      const Shape& k = g.shape(n.inputs[1]);
      return size_t(attention_block(q, k) * k[1]) * sizeof(float);
    }
    default: return 0;
  }
}

bool run_fast(const KernelArgs& a) {
  switch (a.n.op) {
    case Op::kLinear: linear(a); return true;
    case Op::kConv2d: conv2d(a); return true;
    case Op::kAttention: attention(a); return true;
    case Op::kGroupNorm: group_norm(a); return true;
    case Op::kLayerNorm: layer_norm(a); return true;
    case Op::kAddChannel:
      if (a.input_dtype(1) != DType::kF32) return false;
      add_channel(a);
      return true;
    case Op::kGeglu: geglu(a); return true;
    case Op::kAdd:
    case Op::kMul:
    case Op::kScale:
    case Op::kSilu:
    case Op::kGelu:
    case Op::kQuickGelu: return elementwise(a);
    case Op::kToTokens:
    case Op::kToImage:
    case Op::kUpsample:
    case Op::kConcat: return layout(a);
    default: return false;  // slice, embedding: tiny, the reference loop is fine
  }
}

}  // namespace websd::cpu
