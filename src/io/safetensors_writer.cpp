#include "io/safetensors_writer.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>

#include "core/error.h"

namespace websd {

void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  std::vector<const TensorToWrite*> order;
  std::set<std::string> seen;
  for (const auto& t : tensors) {
    if (t.name == "__metadata__" || t.name.empty())
      throw Error(ErrorCode::kInvalidArgument, path + ": '" + t.name + "' cannot name a tensor");
    if (!seen.insert(t.name).second)
      throw Error(ErrorCode::kInvalidArgument, path + ": tensor '" + t.name + "' is given twice");
    for (int64_t d : t.shape.dims)
      if (d < 0)
        throw Error(ErrorCode::kInvalidArgument, path + ": tensor '" + t.name + "' has a negative dimension");
    if (t.shape.numel() > 0 && !t.data)
      throw Error(ErrorCode::kInvalidArgument, path + ": tensor '" + t.name + "' has no data");
    order.push_back(&t);
  }
  // Larger elements first: with no padding allowed between tensors, this keeps every tensor naturally
  // aligned.
  std::sort(order.begin(), order.end(), [](const TensorToWrite* a, const TensorToWrite* b) {
    const size_t sa = dtype_size(a->dtype), sb = dtype_size(b->dtype);
    return sa != sb ? sa > sb : a->name < b->name;
  });

  nlohmann::json header = nlohmann::json::object();  // std::map underneath: keys come out sorted
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const TensorToWrite* t : order) {
    const uint64_t n = uint64_t(t->shape.numel()) * dtype_size(t->dtype);
    header[t->name] = {
        {"dtype", dtype_name(t->dtype)}, {"shape", t->shape.dims}, {"data_offsets", {offset, offset + n}}};
    offset += n;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // the 8-byte length plus this keeps the data 8-byte aligned

  const std::string partial = path + ".partial";
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(partial.c_str(), "wb"), &std::fclose);
  if (!f) throw Error(ErrorCode::kNotFound, partial + ": cannot create (" + std::strerror(errno) + ")");
  auto put = [&](const void* p, size_t n) {
    if (n && std::fwrite(p, 1, n, f.get()) != n) {
      const int e = errno;
      f.reset();
      std::filesystem::remove(partial);
      throw Error(ErrorCode::kInternal, partial + ": write failed (" + std::strerror(e) + ")");
    }
  };
  uint8_t len[8];
  for (int i = 0; i < 8; ++i)
    len[i] = uint8_t(uint64_t(text.size()) >> (8 * i));  // little-endian on any host
  put(len, 8);
  put(text.data(), text.size());
  for (const TensorToWrite* t : order) put(t->data, size_t(t->shape.numel()) * dtype_size(t->dtype));
  const int closed = std::fclose(f.release());
  std::error_code ec;
  if (closed == 0) std::filesystem::rename(partial, path, ec);
  if (closed != 0 || ec) {
    std::filesystem::remove(partial, ec);
    throw Error(ErrorCode::kInternal, path + ": could not finish writing the file");
  }
}

}  // namespace websd
