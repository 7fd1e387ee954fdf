#include "sampling/torch_rng.h"

#include <cmath>
#include <cstring>

namespace websd {

namespace {

constexpr double kPi = 3.14159265358979323846;  // c10::pi<double>

// Scalar re-implementations of the float log and sincos that torch's AVX2 normal kernel uses (Cephes
// polynomials as vectorised in avx_mathfun.h). Torch's binary evaluates them with fused multiply-adds where
// the compiler contracted `a * b + c`; the std::fma calls below sit exactly there (found by matching the
// fixtures bit for bit). Every other product is either consumed by another multiply or exact, so this code
// gives the same bits whether or not our own compiler contracts. Inputs are limited to what Box-Muller feeds
// them: log gets (0, 1] (never zero or denormal), sincos gets [0, 2*pi).

float cephes_logf(float x) {
  uint32_t bits;
  std::memcpy(&bits, &x, 4);
  float e = float(int(bits >> 23) - 0x7f) + 1.0f;  // exponent of x as a float in [0.5, 1) mantissa form
  bits = (bits & ~0x7f800000u) | 0x3f000000u;      // mantissa m in [0.5, 1)
  float m;
  std::memcpy(&m, &bits, 4);
  // Keep m - 1 small: for m < sqrt(1/2) use 2m - 1 and one exponent less (both subtractions are exact).
  if (m < 0.707106781186547524f) {
    e = e - 1.0f;
    m = (m - 1.0f) + m;
  } else {
    m = m - 1.0f;
  }
  float z = m * m;
  float y = 7.0376836292E-2f;
  for (float c : {-1.1514610310E-1f, 1.1676998740E-1f, -1.2420140846E-1f, 1.4249322787E-1f, -1.6668057665E-1f,
                  2.0000714765E-1f, -2.4999993993E-1f, 3.3333331174E-1f})
    y = std::fma(y, m, c);
  y = y * m;
  y = std::fma(y, z, e * -2.12194440e-4f);  // y * z + e * log(2)_low
  y = y - z * 0.5f;
  float r = m + y;
  return r + e * 0.693359375f;  // + e * log(2)_high (exact product)
}

void cephes_sincosf(float x, float* s, float* c) {
  // Reduce to [-pi/4, pi/4] around j * pi/4 with j even, in three parts of pi/4 ("extended precision").
  int j = int(x * 1.27323954473516f);
  j = (j + 1) & ~1;
  float y = float(j);
  float r = std::fma(y, -0.78515625f, x);
  r = std::fma(y, -2.4187564849853515625e-4f, r);
  r = std::fma(y, -3.77489497744594108e-8f, r);
  float z = r * r;

  float cos_poly = 2.443315711809948E-005f;
  cos_poly = std::fma(cos_poly, z, -1.388731625493765E-003f);
  cos_poly = std::fma(cos_poly, z, 4.166664568298827E-002f);
  cos_poly = cos_poly * z;
  cos_poly = std::fma(cos_poly, z, -(z * 0.5f));  // poly * z^2 - z/2 (z * 0.5 is exact)
  cos_poly = cos_poly + 1.0f;

  float sin_poly = -1.9515295891E-4f;
  sin_poly = std::fma(sin_poly, z, 8.3321608736E-3f);
  sin_poly = std::fma(sin_poly, z, -1.6666654611E-1f);
  sin_poly = sin_poly * z;
  sin_poly = std::fma(sin_poly, r, r);

  bool swap = (j & 2) != 0;  // odd quadrant pair: sine and cosine polynomials trade places
  float sv = swap ? cos_poly : sin_poly;
  float cv = swap ? sin_poly : cos_poly;
  *s = (j & 4) ? -sv : sv;
  *c = ((j - 2) & 4) ? cv : -cv;
}

// Box-Muller on 16 uniforms in place: data[j] and data[j + 8] become the cosine and sine outputs.
void normal_fill_16(float* data) {
  const float two_pi = float(2.0 * kPi);
  for (int j = 0; j < 8; ++j) {
    float u1 = 1.0f - data[j];  // [0, 1) -> (0, 1] for the log
    float u2 = data[j + 8];
    float radius = std::sqrt(-2.0f * cephes_logf(u1));
    float s, c;
    cephes_sincosf(two_pi * u2, &s, &c);
    data[j] = radius * c;
    data[j + 8] = radius * s;
  }
}

}  // namespace

void TorchGenerator::manual_seed(uint64_t seed) {
  seed_ = seed;
  engine_.seed(uint32_t(seed & 0xffffffffu));  // torch's mt19937 keeps the low 32 bits only
  next_double_normal_.reset();
}

uint64_t TorchGenerator::random64() {
  uint64_t hi = engine_();
  uint64_t lo = engine_();
  return (hi << 32) | lo;
}

float TorchGenerator::uniform_float() {
  return float(engine_() & 0xFFFFFFu) * (1.0f / 16777216.0f);
}

double TorchGenerator::uniform_double() {
  return double(random64() & ((uint64_t(1) << 53) - 1)) * (1.0 / 9007199254740992.0);
}

double TorchGenerator::normal_double() {
  if (next_double_normal_) {
    double v = *next_double_normal_;
    next_double_normal_.reset();
    return v;
  }
  double u1 = uniform_double();
  double u2 = uniform_double();
  double r = std::sqrt(-2.0 * std::log1p(-u2));
  double theta = 2.0 * kPi * u1;
  next_double_normal_ = r * std::sin(theta);
  return r * std::cos(theta);
}

void TorchGenerator::normal_fill(float* data, size_t n) {
  for (size_t i = 0; i < n; ++i) data[i] = uniform_float();
  for (size_t i = 0; i + 16 <= n; i += 16) normal_fill_16(data + i);
  if (n % 16 != 0) {
    // Torch recomputes the last 16 outputs (overlapping the last full block) from 16 new uniforms.
    float* tail = data + n - 16;
    for (int i = 0; i < 16; ++i) tail[i] = uniform_float();
    normal_fill_16(tail);
  }
}

void TorchGenerator::randn(float* out, size_t n) {
  if (n >= 16) {
    normal_fill(out, n);
  } else {
    for (size_t i = 0; i < n; ++i) out[i] = float(normal_double());
  }
}

std::vector<float> TorchGenerator::randn(size_t n) {
  std::vector<float> out(n);
  randn(out.data(), n);
  return out;
}

}  // namespace websd
