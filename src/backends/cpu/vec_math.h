// Branch-free scalar maths written so that compilers vectorise the loops that call them (AVX, NEON, wasm SIMD128).
#pragma once

#include <cstdint>
#include <cstring>

namespace websd::cpu {

// e^x with about 2 ulp of error over the float range (Cody–Waite reduction, degree-6 polynomial); underflows to 0
// below -87.3 and saturates at 88.7. std::exp does not vectorise and dominated softmax and SiLU time.
inline float fast_exp(float x) {
  x = x < -87.3f ? -87.3f : (x > 88.7f ? 88.7f : x);
  const float n = __builtin_floorf(x * 1.44269504088896341f + 0.5f);
  float r = x - n * 0.693145751953125f;
  r = r - n * 1.428606765330187045e-06f;
  float p = 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const int32_t bits = (int32_t(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, 4);
  return p * scale;
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
