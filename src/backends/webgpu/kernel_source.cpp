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

}  // namespace

std::string KernelVariant::key() const {
  std::string k = file + ":" + entry;
  for (const auto& [name, dtype] : weights) k += " " + name + "=" + dtype_name(dtype);
  for (const auto& [name, value] : constants) k += " " + name + "=" + value;
  return k;
}

std::string KernelVariant::wgsl() const {
  const std::string text = find_file(file);
  std::string out = std::string(find_file("common")) + "\n// ---- kernels/" + file + ".wgsl\n";
  size_t pos = 0;
  for (size_t open; (open = text.find("{{", pos)) != std::string::npos;) {
    const size_t close = text.find("}}", open);
    if (close == std::string::npos) throw Error(ErrorCode::kInternal, "webgpu: unclosed {{ in kernels/" + file + ".wgsl");
    out.append(text, pos, open - pos);
    std::istringstream words(text.substr(open + 2, close - open - 2));
    std::string first, name, binding;
    words >> first;
    if (first == "weight") {
      words >> name >> binding;
      auto it = weights.find(name);
      if (it == weights.end())
        throw Error(ErrorCode::kInternal, "webgpu: " + key() + " does not say how operand " + name + " is stored");
      out += weight_declaration(name, binding, it->second);
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
