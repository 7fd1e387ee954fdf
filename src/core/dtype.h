// Element types of stored tensors and the half-precision conversions the engine needs on every platform.
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace websd {

// std::bit_cast where the standard library has it; emscripten 3.1.6's libc++ does not, the builtin works everywhere.
template <typename To, typename From>
constexpr To bit_cast(const From& from) {
  static_assert(sizeof(To) == sizeof(From));
  return __builtin_bit_cast(To, from);
}

enum class DType : uint8_t { kF32, kF16, kBF16, kI32, kI64, kU8, kI8 };

size_t dtype_size(DType t);
const char* dtype_name(DType t);                           // "F32", as safetensors spells it
std::optional<DType> dtype_from_name(std::string_view s);  // safetensors spelling; nullopt if unknown

inline float bf16_to_f32(uint16_t h) {
  uint32_t bits = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// IEEE binary16 -> binary32, exact for every input (subnormals, inf, nan included). Branch-free, so loops over
// it vectorise (weights are expanded at every use): normal numbers by rebias, subnormals by a float subtraction,
// inf/nan by a second rebias.
inline float f16_to_f32(uint16_t h16) {
  const uint32_t h = h16;
  uint32_t o = (h & 0x7fffu) << 13;
  const uint32_t exp = o & 0x0f800000u;
  o += (127u - 15u) << 23;
  o += exp == 0x0f800000u ? (128u - 16u) << 23 : 0u;
  const float sub = bit_cast<float>(o + (1u << 23)) - 6.103515625e-05f;  // 2^-14
  const float f = exp == 0 ? sub : bit_cast<float>(o);
  return bit_cast<float>(bit_cast<uint32_t>(f) | (h & 0x8000u) << 16);
}

// binary32 -> binary16 with round-to-nearest-even.
uint16_t f32_to_f16(float f);

// q8 (I8 weights, graph.h): symmetric int8 per output channel (row of dim 0), scale = max|w| / 127 over the row.
void quantize_q8(const std::vector<float>& f, int64_t rows, std::vector<uint8_t>& q, std::vector<float>& scales);

// Converts n stored elements of type t to f32 (t must be F32, F16 or BF16).
void convert_to_f32(DType t, const void* src, float* dst, size_t n);

}  // namespace websd
