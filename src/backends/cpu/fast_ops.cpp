// Fast cpu kernels: matrix work goes through sgemm (blocked, threaded), convolutions through a chunked im2col
// (never the whole column matrix), attention through query blocks (never the whole score matrix), and the
// memory-bound ops are threaded loops. Stored weights (f16, bf16, q8) are read as they are by the portable sgemm
// (expanded while it packs its panels); only the system BLAS needs f32 copies, made into scratch per op.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "backends/cpu/gemm.h"
#include "backends/cpu/kernel_args.h"
#include "backends/cpu/vec_math.h"
#include "backends/cpu/winograd.h"
#include "core/error.h"

namespace websd::cpu {
namespace {

constexpr size_t kIm2colBytes = 8u << 20;     // column chunk of a 3×3 convolution...
constexpr int64_t kIm2colMinColumns = 2048;   // ...but never so narrow that sgemm loses efficiency
constexpr size_t kScoreBytes = 2u << 20;      // score tile of one attention task: about L2-sized
constexpr int64_t kAttentionRows = 128;       // query rows per task at most
constexpr int64_t kElementGrain = 1 << 14;    // elements per thread chunk below which threads do not pay off

// The f32 copy of a stored weight the BLAS needs (the portable sgemm reads stored weights as they are).
size_t weight_expansion_bytes(const Graph& g, TensorId w, FastChoice choice) {
  const Node& n = g.node(w);
  return n.op == Op::kWeight ? Gemm::expansion_floats(choice.blas, n.dtype, n.shape.numel()) * sizeof(float) : 0;
}

// Input 1 (the weight, stored or computed) as a product's operand with leading dimension ld, as the sgemm reads
// it (Gemm::prepare: an f32 copy at the start of the scratch for the BLAS); `scratch` moves past that copy.
GemmOperand weight_operand(const KernelArgs& a, int64_t ld, float*& scratch) {
  const WeightData* w = a.weight(1);
  if (!w) return GemmOperand{a.in_f32(1), nullptr, ld};
  const GemmOperand o = a.gemm.prepare(GemmOperand{nullptr, w, ld}, scratch);
  scratch += a.gemm.expansion_floats(w->dtype, w->shape.numel());
  return o;
}

// Output rows per im2col chunk: whole rows, so that each column row is a few contiguous copies.
int64_t conv_chunk_rows(const Node& n, const Shape& ws) {
  const int64_t K = ws[1] * ws[2] * ws[3], WO = n.shape[3];
  const int64_t by_bytes = int64_t(kIm2colBytes / sizeof(float)) / (K * WO);
  const int64_t by_width = (kIm2colMinColumns + WO - 1) / WO;
  return std::clamp<int64_t>(std::max(by_bytes, by_width), 1, n.shape[2]);
}

bool is_pointwise_conv(const Node& n, const Shape& ws) {
  return ws[2] == 1 && ws[3] == 1 && n.p.stride == 1 && n.p.pad == 0 && n.p.pad_end == 0;
}

// Batch entries that share one sgemm (1 = one image at a time, in row chunks).
int64_t conv_batch_group(const Node& n, const Shape& ws) {
  const int64_t P = n.shape[2] * n.shape[3];
  if (is_pointwise_conv(n, ws) || P >= kIm2colMinColumns) return 1;
  return std::min<int64_t>(n.shape[0], (kIm2colMinColumns + P - 1) / P);
}

// 3×3, stride 1, padding 1 on images wide enough: nine sgemms over shifted views of a zero-padded copy of a band
// of input rows, instead of a nine-times-larger im2col matrix.
constexpr int64_t kShiftedMinColumns = 4096;
bool use_shifted_conv(const Node& n, const Shape& ws) {
  return ws[2] == 3 && ws[3] == 3 && n.p.stride == 1 && n.p.pad == 1 && n.p.pad_end == 1 &&
         n.shape[2] * n.shape[3] >= kIm2colMinColumns;
}
int64_t shifted_band_rows(const Node& n) {
  return std::clamp<int64_t>((kShiftedMinColumns + n.shape[3] + 1) / (n.shape[3] + 2), 1, n.shape[2]);
}
size_t shifted_conv_floats(const Node& n, const Shape& ws) {
  const int64_t O = ws[0], C = ws[1], W = n.shape[3], R = shifted_band_rows(n);
  return size_t(9 * O * C + C * ((R + 2) * (W + 2) + 2) + O * R * (W + 2));
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

// y += r for linear and conv2d with a residual input (graph.h), in one threaded pass after the product.
void add_residual(const KernelArgs& a) {
  if (!a.n.p.residual) return;
  const float* r = static_cast<const float*>(a.in.back());
  float* y = a.out_f32();
  a.pool.parallel_for(a.n.shape.numel(), [&](int64_t b, int64_t e, int) {
    for (int64_t i = b; i < e; ++i) y[i] += r[i];
  }, kElementGrain);
}

void linear(const KernelArgs& a) {
  const Shape& ws = a.input_shape(1);
  const int64_t N = ws[0], K = ws[1], M = a.n.shape.numel() / N;
  float* scratch = static_cast<float*>(a.scratch);
  const GemmOperand w = weight_operand(a, K, scratch);
  a.gemm(Trans::kNo, Trans::kYes, M, N, K, GemmOperand{a.in_f32(0), nullptr, K}, w, a.out_f32(), N, false);
  if (has_bias(a.n)) add_bias_rows(a, a.out_f32(), M, N, small_param_f32(a, 2));
}

struct ConvGeometry {
  int64_t C, H, W, KH, KW, HO, WO;
  int stride, pad;
};

// col[k][col0 + (oy - oy0)·WO + ox] = x[c][oy·stride - pad + ky][ox·stride - pad + kx] for k = (c, ky, kx) and
// the output rows [oy0, oy0 + rows); col rows are ldcol floats apart. Whole output rows, so each column row is a
// few contiguous copies.
void im2col(ThreadPool& pool, const ConvGeometry& g, const float* x, int64_t oy0, int64_t rows, float* col,
            int64_t ldcol, int64_t col0) {
  const int64_t K = g.C * g.KH * g.KW;
  pool.parallel_for(K, [&](int64_t kb, int64_t ke, int) {
    for (int64_t k = kb; k < ke; ++k) {
      const int64_t c = k / (g.KH * g.KW), ky = (k / g.KW) % g.KH, kx = k % g.KW;
      // Output columns whose input column lies inside the image: ox in [ox_lo, ox_hi).
      const int64_t ox_lo = std::clamp<int64_t>((g.pad - kx + g.stride - 1) / g.stride, 0, g.WO);
      const int64_t ox_hi = std::clamp<int64_t>((g.W + g.pad - kx + g.stride - 1) / g.stride, ox_lo, g.WO);
      for (int64_t r = 0; r < rows; ++r) {
        float* dst = col + k * ldcol + col0 + r * g.WO;
        const int64_t iy = (oy0 + r) * g.stride - g.pad + ky;
        if (iy < 0 || iy >= g.H) {
          std::fill(dst, dst + g.WO, 0.0f);
          continue;
        }
        const float* src = x + (c * g.H + iy) * g.W - g.pad + kx;
        std::fill(dst, dst + ox_lo, 0.0f);
        if (g.stride == 1)
          std::copy(src + ox_lo, src + ox_hi, dst + ox_lo);
        else
          for (int64_t ox = ox_lo; ox < ox_hi; ++ox) dst[ox] = src[ox * g.stride];
        std::fill(dst + ox_hi, dst + g.WO, 0.0f);
      }
    }
  }, 4);
}

void conv3x3_shifted(const KernelArgs& a) {
  const Shape& xs = a.input_shape(0);
  const int64_t B = xs[0], C = xs[1], H = xs[2], W = xs[3], O = a.n.shape[1], WP = W + 2;
  const int64_t R = shifted_band_rows(a.n), LD = (R + 2) * WP + 2;
  float* wk = static_cast<float*>(a.scratch);  // [9][O][C]
  float* xpad = wk + 9 * O * C;                // [C][LD]: R + 2 padded input rows, 2 floats of slack
  float* ypad = xpad + C * LD;                 // [O][R·WP]: outputs on the padded-width grid
  const WeightData& stored = *a.weight(1);
  a.pool.parallel_for(O, [&](int64_t lo, int64_t hi, int) {
    float tmp[9];
    for (int64_t o = lo; o < hi; ++o)
      for (int64_t c = 0; c < C; ++c) {
        expand_weight(stored, size_t((o * C + c) * 9), 9, tmp);
        for (int k = 0; k < 9; ++k) wk[(k * O + o) * C + c] = tmp[k];
      }
  });
  const std::vector<float> bias = has_bias(a.n) ? small_param_f32(a, 2) : std::vector<float>(size_t(O), 0.0f);
  for (int64_t b = 0; b < B; ++b) {
    const float* xb = a.in_f32(0) + b * C * H * W;
    float* yb = a.out_f32() + b * O * H * W;
    for (int64_t oy0 = 0; oy0 < H; oy0 += R) {
      const int64_t rows = std::min(R, H - oy0), N = rows * WP;
      a.pool.parallel_for(C, [&](int64_t lo, int64_t hi, int) {
        for (int64_t c = lo; c < hi; ++c) {
          float* dst = xpad + c * LD;
          for (int64_t r = 0; r < rows + 2; ++r, dst += WP) {
            const int64_t iy = oy0 - 1 + r;
            if (iy < 0 || iy >= H) {
              std::fill(dst, dst + WP, 0.0f);
              continue;
            }
            dst[0] = 0;
            std::copy(xb + (c * H + iy) * W, xb + (c * H + iy + 1) * W, dst + 1);
            dst[W + 1] = 0;
          }
          std::fill(dst, xpad + (c + 1) * LD, 0.0f);  // slack read by the discarded last columns
        }
      });
      for (int k = 0; k < 9; ++k)
        a.gemm(Trans::kNo, Trans::kNo, O, N, C, wk + k * O * C, C, xpad + (k / 3) * WP + k % 3, LD, ypad, N, k > 0);
      a.pool.parallel_for(O, [&](int64_t lo, int64_t hi, int) {
        for (int64_t o = lo; o < hi; ++o)
          for (int64_t r = 0; r < rows; ++r) {
            const float* src = ypad + o * N + r * WP;
            float* dst = yb + (o * H + oy0 + r) * W;
            const float bv = bias[size_t(o)];
            for (int64_t x = 0; x < W; ++x) dst[x] = src[x] + bv;
          }
      });
    }
  }
}

bool use_winograd(const Node& n, const Shape& ws, FastChoice choice) {
  return choice.winograd < 0 ? winograd_wins(n, ws) : choice.winograd == 1 && winograd_applies(n, ws);
}

void conv2d(const KernelArgs& a) {
  if (use_winograd(a.n, a.input_shape(1), a.choice)) return conv3x3_winograd(a);
  if (use_shifted_conv(a.n, a.input_shape(1))) return conv3x3_shifted(a);
  const Shape& xs = a.input_shape(0);
  const Shape& ws = a.input_shape(1);
  const ConvGeometry geo{xs[1], xs[2], xs[3], ws[2], ws[3], a.n.shape[2], a.n.shape[3], a.n.p.stride, a.n.p.pad};
  const int64_t B = xs[0], O = ws[0], P = geo.HO * geo.WO, K = geo.C * geo.KH * geo.KW;
  float* scratch = static_cast<float*>(a.scratch);
  const GemmOperand w = weight_operand(a, K, scratch);
  const float* x = a.in_f32(0);
  float* y = a.out_f32();
  const std::vector<float> bias = has_bias(a.n) ? small_param_f32(a, 2) : std::vector<float>(size_t(O), 0.0f);
  const int64_t group = conv_batch_group(a.n, ws);
  if (group > 1) {
    // Small images: several batch entries side by side in one column matrix, so that sgemm sees a wide N; the
    // result is scattered back to [B, O, P] with the bias added on the way.
    float* col = scratch;
    float* out = col + K * group * P;
    for (int64_t b0 = 0; b0 < B; b0 += group) {
      const int64_t n = std::min(group, B - b0);
      for (int64_t i = 0; i < n; ++i) im2col(a.pool, geo, x + (b0 + i) * geo.C * geo.H * geo.W, 0, geo.HO, col, n * P, i * P);
      a.gemm(Trans::kNo, Trans::kNo, O, n * P, K, w, {col, nullptr, n * P}, out, n * P, false);
      a.pool.parallel_for(n * O, [&](int64_t lo, int64_t hi, int) {
        for (int64_t r = lo; r < hi; ++r) {
          const int64_t i = r / O, o = r % O;
          const float* src = out + o * n * P + i * P;
          float* dst = y + ((b0 + i) * O + o) * P;
          const float bv = bias[size_t(o)];
          for (int64_t p = 0; p < P; ++p) dst[p] = src[p] + bv;
        }
      });
    }
    return;
  }
  const int64_t chunk_rows = conv_chunk_rows(a.n, ws);
  for (int64_t b = 0; b < B; ++b) {
    const float* xb = x + b * geo.C * geo.H * geo.W;
    float* yb = y + b * O * P;
    if (is_pointwise_conv(a.n, ws)) {
      a.gemm(Trans::kNo, Trans::kNo, O, P, geo.C, w, {xb, nullptr, P}, yb, P, false);
      continue;
    }
    for (int64_t oy0 = 0; oy0 < geo.HO; oy0 += chunk_rows) {
      const int64_t rows = std::min(chunk_rows, geo.HO - oy0), pc = rows * geo.WO;
      im2col(a.pool, geo, xb, oy0, rows, scratch, pc, 0);
      a.gemm(Trans::kNo, Trans::kNo, O, pc, K, w, {scratch, nullptr, pc}, yb + oy0 * geo.WO, P, false);
    }
  }
  if (has_bias(a.n)) {
    a.pool.parallel_for(B * O, [&](int64_t lo, int64_t hi, int) {
      for (int64_t r = lo; r < hi; ++r) {
        const float bv = bias[size_t(r % O)];
        for (int64_t i = 0; i < P; ++i) y[r * P + i] += bv;
      }
    });
  }
}

// Parallel over (batch, head, query block); each task computes its block's scores with a single-threaded sgemm
// into its own L2-sized tile, normalises them in place and multiplies by V. The full score matrix never exists.
void attention(const KernelArgs& a) {
  const Shape& qs = a.input_shape(0);
  const Shape& ks = a.input_shape(1);
  const int64_t B = qs[0], LQ = qs[1], LK = ks[1], C = qs[2], H = a.n.p.heads, D = C / H;
  const int64_t block = attention_block(qs, ks), blocks = (LQ + block - 1) / block;
  const float scale = a.n.p.scale;
  const bool causal = a.n.p.causal;
  const float *qp = a.in_f32(0), *kp = a.in_f32(1), *vp = a.in_f32(2);
  float* yp = a.out_f32();
  float* scores = static_cast<float*>(a.scratch);
  const Gemm::SerialScope serial(a.gemm);
  a.pool.parallel_for(B * H * blocks, [&](int64_t lo, int64_t hi, int thread) {
    float* s = scores + int64_t(thread) * block * LK;
    for (int64_t t = lo; t < hi; ++t) {
      const int64_t b = t / (H * blocks), h = (t / blocks) % H, i0 = (t % blocks) * block;
      const int64_t rows = std::min(block, LQ - i0);
      const float* q = qp + (b * LQ + i0) * C + h * D;
      const float* k = kp + b * LK * C + h * D;
      const float* v = vp + b * LK * C + h * D;
      a.gemm.serial(serial, Trans::kNo, Trans::kYes, rows, LK, D, q, C, k, C, s, LK, false);
      for (int64_t r = 0; r < rows; ++r) {
        float* row = s + r * LK;
        const int64_t valid = causal ? std::min(LK, i0 + r + 1) : LK;
        softmax_row(row, valid, scale);
        std::fill(row + valid, row + LK, 0.0f);
      }
      a.gemm.serial(serial, Trans::kNo, Trans::kNo, rows, D, LK, s, LK, v, C, yp + (b * LQ + i0) * C + h * D, C, false);
    }
  });
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
      const float mean = float(sum_blocked(xg, CG * S) / double(CG * S));
      const double sq = sum_sq_dev_blocked(xg, CG * S, mean);
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
      const float mean = float(sum_blocked(xr, C) / double(C));
      const float inv = float(1.0 / std::sqrt(sum_sq_dev_blocked(xr, C, mean) / double(C) + a.n.p.eps));
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
      const int64_t nb = a.input_shape(1).numel();
      if (nb == 1)
        map(a, [s = b[0]](float x, int64_t) { return x * s; });
      else if (nb == a.n.shape.numel())
        map(a, [b](float x, int64_t i) { return x * b[i]; });
      else
        map(a, [b, nb](float x, int64_t i) { return x * b[i % nb]; });
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
    case Op::kRelu: map(a, [](float x, int64_t) { return x > 0.0f ? x : 0.0f; }); return true;
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

size_t fast_scratch_bytes(const Graph& g, const Node& n, int threads, FastChoice choice) {
  switch (n.op) {
    case Op::kLinear: return weight_expansion_bytes(g, n.inputs[1], choice);
    case Op::kConv2d: {
      const Shape& ws = g.shape(n.inputs[1]);
      if (use_winograd(n, ws, choice)) return winograd_scratch_bytes(n, ws, choice.winograd_band_rows);
      if (use_shifted_conv(n, ws)) return shifted_conv_floats(n, ws) * sizeof(float);
      const int64_t K = ws[1] * ws[2] * ws[3], P = n.shape[2] * n.shape[3], group = conv_batch_group(n, ws);
      size_t work = 0;
      if (group > 1)
        work = size_t((K + ws[0]) * group * P) * sizeof(float);  // column matrix and unscattered result
      else if (!is_pointwise_conv(n, ws))
        work = size_t(K * conv_chunk_rows(n, ws) * n.shape[3]) * sizeof(float);
      return weight_expansion_bytes(g, n.inputs[1], choice) + work;
    }
    case Op::kAttention: {
      const Shape& q = g.shape(n.inputs[0]);
      const Shape& k = g.shape(n.inputs[1]);
      return size_t(threads * attention_block(q, k) * k[1]) * sizeof(float);
    }
    default: return 0;
  }
}

bool run_fast(const KernelArgs& a) {
  switch (a.n.op) {
    case Op::kLinear: linear(a); add_residual(a); return true;
    case Op::kConv2d: conv2d(a); add_residual(a); return true;
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
    case Op::kRelu:
    case Op::kQuickGelu: return elementwise(a);
    case Op::kToTokens:
    case Op::kToImage:
    case Op::kUpsample:
    case Op::kConcat: return layout(a);
    default: return false;  // slice, embedding: tiny, the reference loop is fine
  }
}

}  // namespace websd::cpu
