#include "backends/webgpu/kernel_source.h"

#include <sstream>

#include "core/error.h"

namespace websd::webgpu {
namespace {

const char* find_file(const std::string& name) {
  for (const KernelFile& f : kernel_files())
    if (name == f.name) return f.text;
  throw Error(ErrorCode::kInternal, "webgpu: no kernel file kernels/" + name + ".wgsl");
}

// The binding and loader of one weight operand, as its stored dtype needs them.
std::string weight_declaration(const std::string& name, const std::string& binding, DType dtype) {
  const std::string var = "@group(0) @binding(" + binding + ") var<storage, read_write> " + name;
  const std::string fn = "fn load_" + name + "(i: u32) -> f32 { return ";
  switch (dtype) {
    case DType::kF32: return var + ": array<f32>;\n" + fn + name + "[i]; }";
    case DType::kF16: return var + ": array<u32>;\n" + fn + "unpack2x16float(" + name + "[i >> 1u])[i & 1u]; }";
    case DType::kI8:
      // q8 (webgpu_backend.cpp, upload): [rows, row length, rows f32 scales, the int8 values four to a word].
      // extractBits of an i32 sign-extends.
      return var + ": array<u32>;\n" + fn + "f32(extractBits(bitcast<i32>(" + name + "[2u + " + name +
             "[0] + (i >> 2u)]), (i & 3u) * 8u, 8u)) * bitcast<f32>(" + name + "[2u + i / " + name + "[1]]); }";
    default: throw Error(ErrorCode::kInternal, std::string("webgpu: weights stored as ") + dtype_name(dtype) +
                                                   " reach the GPU as F32, F16 or I8 only");
  }
}

// The binding and loaders of a matrix weight laid out K-major for the GEMM core (webgpu_backend.cpp,
// WeightCache::upload_kn): wᵀ [K, N4], N padded to a multiple of 4 (`npad`). `load_NAME4(k, n, npad)` reads wᵀ[k, n .. n+3]
// (n a multiple of 4) as one vector; for q8 these are the raw int8 values and `scale_NAME(n)` is the per-output
// scale that the epilogue applies once (Σ_k a·q·s = s·Σ_k a·q); for f32 and f16 it is 1.
std::string kn_weight_declaration(const std::string& name, const std::string& binding, DType dtype) {
  const std::string var = "@group(0) @binding(" + binding + ") var<storage, read_write> " + name;
  const std::string fn = "fn load_" + name + "4(k: u32, n: u32, npad: u32) -> vec4f { ";
  const std::string at = "(k * npad + n) >> 2u";
  const std::string unit = "\nfn scale_" + name + "(n: u32) -> f32 { return 1.0; }";
  switch (dtype) {
    case DType::kF32: return var + ": array<vec4f>;\n" + fn + "return " + name + "[" + at + "]; }" + unit;
    case DType::kF16:
      return var + ": array<vec2u>;\n" + fn + "let u = " + name + "[" + at +
             "]; return vec4f(unpack2x16float(u.x), unpack2x16float(u.y)); }" + unit;
    case DType::kI8:
      // [npad f32 scales][K · npad int8 values, four to a word]; extractBits of an i32 sign-extends.
      return var + ": array<u32>;\n" + fn + "let q = bitcast<i32>(" + name + "[npad + (" + at +
             ")]); return vec4f(f32(extractBits(q, 0u, 8u)), f32(extractBits(q, 8u, 8u)), f32(extractBits(q, 16u, "
             "8u)), f32(extractBits(q, 24u, 8u))); }\nfn scale_" + name + "(n: u32) -> f32 { return bitcast<f32>(" +
             name + "[n]); }";
    default: throw Error(ErrorCode::kInternal, std::string("webgpu: matrix weights stored as ") + dtype_name(dtype) +
                                                   " reach the GPU as F32, F16 or I8 only");
  }
}

}  // namespace

std::string KernelVariant::key() const {
  std::string k = file + ":" + entry;
  for (const auto& [name, dtype] : weights) k += " " + name + "=" + dtype_name(dtype);
  for (const auto& [name, value] : constants) k += " " + name + "=" + value;
  return k;
}

std::string KernelVariant::wgsl() const {
  const std::string body = std::string(find_file("common")) + "\n// ---- kernels/" + file + ".wgsl\n" + expand(file, 0);
  // WGSL wants its `enable` directives before every declaration: lift them to the top.
  std::string directives, rest;
  std::istringstream lines(body);
  for (std::string line; std::getline(lines, line);) (line.starts_with("enable ") ? directives : rest) += line + "\n";
  return directives + rest;
}

std::string KernelVariant::expand(const std::string& stem, int depth) const {
  if (depth > 4) throw Error(ErrorCode::kInternal, "webgpu: {{include}} nested too deeply in kernels/" + stem + ".wgsl");
  const std::string text = find_file(stem);
  std::string out;
  size_t pos = 0;
  for (size_t open; (open = text.find("{{", pos)) != std::string::npos;) {
    const size_t close = text.find("}}", open);
    if (close == std::string::npos) throw Error(ErrorCode::kInternal, "webgpu: unclosed {{ in kernels/" + stem + ".wgsl");
    out.append(text, pos, open - pos);
    std::istringstream words(text.substr(open + 2, close - open - 2));
    std::string first, name, binding;
    words >> first;
    if (first == "weight" || first == "weight_kn") {
      words >> name >> binding;
      auto it = weights.find(name);
      if (it == weights.end())
        throw Error(ErrorCode::kInternal, "webgpu: " + key() + " does not say how operand " + name + " is stored");
      out += first == "weight" ? weight_declaration(name, binding, it->second)
                               : kn_weight_declaration(name, binding, it->second);
    } else if (first == "include") {
      words >> name;
      if (auto it = constants.find(name); it != constants.end()) name = it->second;  // {{include CONSTANT}}
      out += "// ---- kernels/" + name + ".wgsl\n" + expand(name, depth + 1);
    } else {
      auto it = constants.find(first);
      if (it == constants.end())
        throw Error(ErrorCode::kInternal, "webgpu: " + key() + " has no value for {{" + first + "}}");
      out += it->second;
    }
    pos = close + 2;
  }
  out.append(text, pos, std::string::npos);
  return out;
}

}  // namespace websd::webgpu
