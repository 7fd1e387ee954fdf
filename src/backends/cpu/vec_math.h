// Branch-free scalar maths written so that compilers vectorise the loops that call them (AVX, NEON, wasm SIMD128).
#pragma once

#include <cstdint>

#include "core/dtype.h"

namespace websd::cpu {

// e^x with about 2 ulp of error over the float range (Cody–Waite reduction, degree-6 polynomial); underflows to 0
// below -87.3 and saturates at 88.7. std::exp does not vectorise and dominated softmax and SiLU time.
inline float fast_exp(float x) {
  x = x < -87.3f ? -87.3f : (x > 88.7f ? 88.7f : x);
  // Round to nearest by the 1.5·2^23 trick (|x·log2 e| < 2^22 here): vectorises where floor() may not.
  const float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  float r = x - n * 0.693145751953125f;
  r = r - n * 1.428606765330187045e-06f;
  float p = 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  return p * bit_cast<float>((int32_t(n) + 127) << 23);
}

// Reductions with 16 independent lanes, so they vectorise without -ffast-math (which would reorder everything).
inline float row_max(const float* x, int64_t n) {
  float lanes[16];
  for (int l = 0; l < 16; ++l) lanes[l] = -3.402823466e38f;
  int64_t j = 0;
  for (; j + 16 <= n; j += 16)
    for (int l = 0; l < 16; ++l) lanes[l] = lanes[l] > x[j + l] ? lanes[l] : x[j + l];
  float m = -3.402823466e38f;
  for (int l = 0; l < 16; ++l) m = m > lanes[l] ? m : lanes[l];
  for (; j < n; ++j) m = m > x[j] ? m : x[j];
  return m;
}

inline float row_sum(const float* x, int64_t n) {
  float lanes[16] = {};
  int64_t j = 0;
  for (; j + 16 <= n; j += 16)
    for (int l = 0; l < 16; ++l) lanes[l] += x[j + l];
  float s = 0;
  for (int l = 0; l < 16; ++l) s += lanes[l];
  for (; j < n; ++j) s += x[j];
  return s;
}

// Sums of long rows (group norm over a million pixels): float lanes within blocks of 4096, double across blocks,
// so the loops vectorise and the result stays accurate to double rounding of the block sums.
inline double sum_blocked(const float* x, int64_t n) {
  double s = 0;
  for (int64_t b = 0; b < n; b += 4096) s += row_sum(x + b, n - b < 4096 ? n - b : 4096);
  return s;
}

inline double sum_sq_dev_blocked(const float* x, int64_t n, float mean) {
  double s = 0;
  for (int64_t b = 0; b < n; b += 4096) {
    const int64_t m = n - b < 4096 ? n - b : 4096;
    float lanes[16] = {};
    int64_t j = 0;
    for (; j + 16 <= m; j += 16)
      for (int l = 0; l < 16; ++l) {
        const float d = x[b + j + l] - mean;
        lanes[l] += d * d;
      }
    float t = 0;
    for (int l = 0; l < 16; ++l) t += lanes[l];
    for (; j < m; ++j) t += (x[b + j] - mean) * (x[b + j] - mean);
    s += t;
  }
  return s;
}

// row[0:n] = softmax(row[0:n] · scale) for scale > 0. Values are plain arguments (not captured references) so
// that the compiler can prove they do not alias the row and vectorise every loop.
inline void softmax_row(float* row, int64_t n, float scale) {
  const float shift = row_max(row, n) * scale;  // scale > 0, so max(s)·scale = max(s·scale)
  for (int64_t j = 0; j < n; ++j) row[j] = fast_exp(row[j] * scale - shift);
  const float inv = 1.0f / row_sum(row, n);
  for (int64_t j = 0; j < n; ++j) row[j] *= inv;
}

inline float fast_silu(float x) { return x / (1.0f + fast_exp(-x)); }

// erf(x) with at most 1.5e-7 absolute error (Abramowitz & Stegun 7.1.26), branch-free.
inline float fast_erf(float x) {
  const float ax = x < 0 ? -x : x;
  const float t = 1.0f / (1.0f + 0.3275911f * ax);
  float p = 1.061405429f;
  p = p * t - 1.453152027f;
  p = p * t + 1.421413741f;
  p = p * t - 0.284496736f;
  p = p * t + 0.254829592f;
  const float y = 1.0f - p * t * fast_exp(-ax * ax);
  return x < 0 ? -y : y;
}

inline float fast_gelu(float x) { return 0.5f * x * (1.0f + fast_erf(x * 0.70710678118654752f)); }

}  // namespace websd::cpu
