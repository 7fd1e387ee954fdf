// Element types of stored tensors and the half-precision conversions the engine needs on every platform.
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

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

// IEEE binary16 -> binary32, exact for every input (subnormals, inf, nan included).
inline float f16_to_f32(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ff;
  uint32_t bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (mant << 13);
  } else if (mant == 0) {
    bits = sign;
  } else {  // subnormal: renormalise
    int e = -1;
    do {
      ++e;
      mant <<= 1;
    } while ((mant & 0x400) == 0);
    bits = sign | uint32_t(112 - e) << 23 | ((mant & 0x3ff) << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// binary32 -> binary16 with round-to-nearest-even.
uint16_t f32_to_f16(float f);

// Converts n stored elements of type t to f32 (t must be F32, F16 or BF16).
void convert_to_f32(DType t, const void* src, float* dst, size_t n);

}  // namespace websd
