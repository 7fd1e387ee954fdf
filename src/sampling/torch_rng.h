// Seeded noise bit-identical to PyTorch on the CPU:
//   torch.randn(shape, generator=torch.Generator().manual_seed(seed))        (float32)
// so that a seed gives the same image as diffusers. One TorchGenerator is one torch.Generator: successive
// calls continue its stream (diffusers draws the initial latents, then e.g. Euler ancestral draws more noise
// per step from the same generator).
//
// How torch does it (ATen, CPUGeneratorImpl + cpu/DistributionTemplates.h):
//   - engine: the standard 32-bit Mersenne Twister seeded with the low 32 bits of the 64-bit seed, so
//     manual_seed(2^32 + 7) == manual_seed(7);
//   - float uniform in [0, 1): (next32() & 0xFFFFFF) * 2^-24;
//   - float tensors with numel >= 16: first all numel uniforms are drawn, then Box-Muller runs on blocks
//     of 16 (u1 = 1 - data[j], u2 = data[j + 8], j < 8); if numel is not a multiple of 16 the last 16
//     outputs are recomputed from 16 freshly drawn uniforms. On x86 torch uses its AVX2 kernel, whose float
//     log and sincos are Cephes polynomials (avx_mathfun.h) evaluated with FMA; we evaluate the same
//     polynomials in scalar code with the same fused operations, which reproduces torch's AVX2 results bit
//     for bit. (Torch's plain C++ fallback, used e.g. on ARM, calls std::log/cos/sin in float and differs by
//     up to ~2e-6.)
//   - numel < 16: one normal_distribution<double> draw per element: Box-Muller on two 53-bit uniforms made
//     from 64-bit draws, returning r*cos and caching r*sin in the generator for the next scalar draw.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <random>
#include <vector>

namespace websd {

class TorchGenerator {
 public:
  static constexpr uint64_t kDefaultSeed = 67280421310721ull;  // torch's default_rng_seed_val

  explicit TorchGenerator(uint64_t seed = kDefaultSeed) { manual_seed(seed); }

  // Restarts the stream, like torch.Generator.manual_seed (also drops the cached normal sample).
  void manual_seed(uint64_t seed);
  uint64_t initial_seed() const { return seed_; }

  // torch.randn(n) in float32: standard normal samples, continuing this generator's stream.
  std::vector<float> randn(size_t n);
  void randn(float* out, size_t n);

  // The primitives torch's distributions are built from.
  uint32_t random() { return engine_(); }
  uint64_t random64();      // two draws, the first in the high half
  float uniform_float();    // [0, 1) with 24 random bits
  double uniform_double();  // [0, 1) with 53 random bits
  double normal_double();   // at::normal_distribution<double>(0, 1), with the cached second value

 private:
  void normal_fill(float* data, size_t n);

  std::mt19937 engine_;
  uint64_t seed_ = 0;
  std::optional<double> next_double_normal_;
};

}  // namespace websd
