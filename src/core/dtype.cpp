#include "core/dtype.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace websd {

size_t dtype_size(DType t) {
  switch (t) {
    case DType::kF32: return 4;
    case DType::kF16: return 2;
    case DType::kBF16: return 2;
    case DType::kI32: return 4;
    case DType::kI64: return 8;
    case DType::kU8: return 1;
    case DType::kI8: return 1;
  }
  return 0;
}

const char* dtype_name(DType t) {
  switch (t) {
    case DType::kF32: return "F32";
    case DType::kF16: return "F16";
    case DType::kBF16: return "BF16";
    case DType::kI32: return "I32";
    case DType::kI64: return "I64";
    case DType::kU8: return "U8";
    case DType::kI8: return "I8";
  }
  return "?";
}

std::optional<DType> dtype_from_name(std::string_view s) {
  if (s == "F32") return DType::kF32;
  if (s == "F16") return DType::kF16;
  if (s == "BF16") return DType::kBF16;
  if (s == "I32") return DType::kI32;
  if (s == "I64") return DType::kI64;
  if (s == "U8") return DType::kU8;
  if (s == "I8") return DType::kI8;
  return std::nullopt;
}

uint16_t f32_to_f16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000;
  uint32_t exp = (x >> 23) & 0xff;
  uint32_t mant = x & 0x7fffff;
  if (exp == 0xff) return uint16_t(sign | 0x7c00 | (mant ? 0x200 : 0));
  int e = int(exp) - 127 + 15;
  if (e >= 0x1f) return uint16_t(sign | 0x7c00);
  if (e <= 0) {
    if (e < -10) return uint16_t(sign);
    mant |= 0x800000;
    int shift = 14 - e;
    uint32_t half = mant >> shift;
    uint32_t rem = mant & ((1u << shift) - 1);
    uint32_t mid = 1u << (shift - 1);
    if (rem > mid || (rem == mid && (half & 1))) ++half;
    return uint16_t(sign | half);
  }
  uint32_t half = (uint32_t(e) << 10) | (mant >> 13);
  uint32_t rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem == 0x1000 && (half & 1))) ++half;  // may carry into the exponent: still correct
  return uint16_t(sign | half);
}

// Value i of 16-bit values at `src`, which may be at an odd address: safetensors places a tensor at any byte offset.
static uint16_t load_u16(const void* src, size_t i) {
  uint16_t v;
  std::memcpy(&v, static_cast<const uint8_t*>(src) + 2 * i, 2);
  return v;
}

void convert_to_f32(DType t, const void* src, float* dst, size_t n) {
  switch (t) {
    case DType::kF32:
      std::memcpy(dst, src, n * 4);
      return;
    case DType::kF16:
      for (size_t i = 0; i < n; ++i) dst[i] = f16_to_f32(load_u16(src, i));
      return;
    case DType::kBF16:
      for (size_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(load_u16(src, i));
      return;
    default:  // callers check first (TensorView::to_f32 names the tensor); never read other bytes as numbers
      throw Error(ErrorCode::kInvalidArgument, std::string("values stored as ") + dtype_name(t) +
                                                   " cannot be read as F32, F16 or BF16 numbers");
  }
}

void quantize_q8(const std::vector<float>& f, int64_t rows, std::vector<uint8_t>& q, std::vector<float>& scales) {
  const size_t row = f.size() / size_t(rows);
  q.resize(f.size());
  scales.resize(size_t(rows));
  for (int64_t r = 0; r < rows; ++r) {
    float mx = 0;
    for (size_t i = 0; i < row; ++i) mx = std::max(mx, std::fabs(f[size_t(r) * row + i]));
    const float scale = mx > 0 ? mx / 127.0f : 1.0f;
    scales[size_t(r)] = scale;
    for (size_t i = 0; i < row; ++i) {
      const float v = std::nearbyint(f[size_t(r) * row + i] / scale);
      q[size_t(r) * row + i] = uint8_t(int8_t(std::clamp(v, -127.0f, 127.0f)));
    }
  }
}


}  // namespace websd
