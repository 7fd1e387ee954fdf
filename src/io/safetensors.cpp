#include "io/safetensors.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace websd {
namespace {

constexpr uint64_t kMaxHeaderBytes = 100u << 20;  // the format's own limit

[[noreturn]] void corrupt(const std::string& path, const std::string& what) {
  throw Error(ErrorCode::kCorruptFile, path + ": not a valid safetensors file: " + what);
}

}  // namespace

std::vector<float> TensorView::to_f32() const {
  if (dtype != DType::kF32 && dtype != DType::kF16 && dtype != DType::kBF16)
    throw Error(ErrorCode::kCorruptFile, "tensor '" + name + "' is stored as " + dtype_name(dtype) +
                                             " where F32, F16 or BF16 numbers are expected");
  std::vector<float> out(size_t(shape.numel()));
  if (data) {
    convert_to_f32(dtype, data, out.data(), out.size());
  } else {
    const std::vector<uint8_t> b = bytes();
    convert_to_f32(dtype, b.data(), out.data(), out.size());
  }
  return out;
}

std::vector<uint8_t> TensorView::bytes() const {
  if (data) return {static_cast<const uint8_t*>(data), static_cast<const uint8_t*>(data) + nbytes};
  return owner->read(offset, nbytes);
}

SafetensorsFile SafetensorsFile::open(const std::string& path) { return parse(MappedFile::open(path)); }

SafetensorsFile SafetensorsFile::parse(std::shared_ptr<MappedFile> file) {
  const std::string& path = file->path();
  const size_t size = file->size();
  if (size < 8) corrupt(path, "file is " + std::to_string(size) + " bytes, shorter than the 8-byte header length");
  uint8_t len_bytes[8];
  file->read(0, 8, len_bytes);
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | len_bytes[i];
  if (header_len > kMaxHeaderBytes) corrupt(path, "header length " + std::to_string(header_len) + " is implausible");
  if (8 + header_len > size)
    corrupt(path, "header of " + std::to_string(header_len) + " bytes runs past the end of the file (" +
                      std::to_string(size) + " bytes; truncated download?)");

  nlohmann::json header;
  try {
    // Mapped files are parsed in place; read ones have their header read (and nothing else).
    std::vector<uint8_t> read_header;
    const uint8_t* h = file->data() ? file->data() + 8 : (read_header = file->read(8, header_len)).data();
    header = nlohmann::json::parse(h, h + header_len);
  } catch (const nlohmann::json::exception& e) {
    corrupt(path, std::string("header is not valid JSON (") + e.what() + ")");
  }
  if (!header.is_object()) corrupt(path, "header is not a JSON object");

  const size_t data_start = 8 + header_len;
  const size_t data_size = size - data_start;
  SafetensorsFile out;
  out.file_ = file;
  struct Range {
    uint64_t begin, end;
    const std::string* name;
  };
  std::vector<Range> ranges;
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const auto& v = it.value();
    if (name == "__metadata__") {
      if (!v.is_object()) corrupt(path, "__metadata__ is not an object");
      for (auto m = v.begin(); m != v.end(); ++m) {
        if (!m.value().is_string()) corrupt(path, "__metadata__ value '" + m.key() + "' is not a string");
        out.metadata_[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    const std::string where = "tensor '" + name + "'";
    if (!v.is_object() || !v.contains("dtype") || !v.contains("shape") || !v.contains("data_offsets"))
      corrupt(path, where + " needs dtype, shape and data_offsets");
    if (!v["dtype"].is_string()) corrupt(path, where + " dtype is not a string");
    auto dtype = dtype_from_name(v["dtype"].get<std::string>());
    if (!dtype)
      throw Error(ErrorCode::kUnsupported,
                  path + ": " + where + " has dtype " + v["dtype"].get<std::string>() +
                      ", which websd does not read (supported: F32, F16, BF16, I32, I64, U8, I8)");
    const auto& js = v["shape"];
    if (!js.is_array()) corrupt(path, where + " shape is not an array");
    TensorView t;
    t.name = name;
    t.dtype = *dtype;
    uint64_t numel = 1;
    for (const auto& d : js) {
      if (!d.is_number_unsigned()) corrupt(path, where + " has a negative or non-integer dimension");
      uint64_t x = d.get<uint64_t>();
      if (x != 0 && numel > (uint64_t(1) << 48) / x) corrupt(path, where + " shape is implausibly large");
      numel *= x;
      t.shape.dims.push_back(int64_t(x));
    }
    const auto& off = v["data_offsets"];
    if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
      corrupt(path, where + " data_offsets must be two non-negative integers");
    uint64_t begin = off[0].get<uint64_t>(), end = off[1].get<uint64_t>();
    if (end < begin) corrupt(path, where + " data_offsets end before they begin");
    if (end > data_size)
      corrupt(path, where + " ends at byte " + std::to_string(end) + " of a " + std::to_string(data_size) +
                        "-byte data section (truncated file?)");
    if (end - begin != numel * dtype_size(t.dtype))
      corrupt(path, where + " occupies " + std::to_string(end - begin) + " bytes but " + dtype_name(t.dtype) +
                        " " + t.shape.str() + " needs " + std::to_string(numel * dtype_size(t.dtype)));
    t.offset = data_start + size_t(begin);
    t.data = file->data() ? file->data() + t.offset : nullptr;
    t.nbytes = size_t(end - begin);
    t.owner = file;
    auto [pos, inserted] = out.tensors_.emplace(name, std::move(t));
    ranges.push_back({begin, end, &pos->first});
  }
  std::sort(ranges.begin(), ranges.end(), [](const Range& a, const Range& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t cursor = 0;
  for (const Range& r : ranges) {
    if (r.begin < cursor) corrupt(path, "tensor '" + *r.name + "' overlaps the tensor before it");
    if (r.begin > cursor) corrupt(path, "the data section has a hole before tensor '" + *r.name + "'");
    cursor = r.end;
  }
  if (cursor != data_size)
    corrupt(path, std::to_string(data_size - cursor) + " bytes after the last tensor are not described by the header");
  return out;
}

const TensorView& SafetensorsFile::get(const std::string& name) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) throw Error(ErrorCode::kNotFound, path() + ": has no tensor '" + name + "'");
  return it->second;
}

}  // namespace websd
