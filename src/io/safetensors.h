// Reader for the safetensors format: an 8-byte little-endian header length, a JSON header, then the tensor bytes.
// The header is validated strictly (dtypes, shapes, offsets inside the file, no overlaps, no holes) before any
// tensor is handed out, so a truncated or malformed file is one clear error that names the file.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/shape.h"
#include "io/mapped_file.h"

namespace websd {

struct TensorView {
  std::string name;
  DType dtype = DType::kF32;
  Shape shape;
  const void* data = nullptr;  // points into the mapped file, valid while it is alive; null where files are read
  size_t offset = 0;           // of the bytes in the file
  size_t nbytes = 0;
  std::shared_ptr<MappedFile> owner;

  // Copies the tensor as f32; Error(kCorruptFile) naming it for a dtype other than F32, F16 and BF16.
  std::vector<float> to_f32() const;
  // Copies its bytes (read from the file where it is not mapped).
  std::vector<uint8_t> bytes() const;
};

class SafetensorsFile {
 public:
  static SafetensorsFile open(const std::string& path);
  static SafetensorsFile parse(std::shared_ptr<MappedFile> file);

  const std::string& path() const { return file_->path(); }
  bool contains(const std::string& name) const { return tensors_.count(name) != 0; }
  // Throws Error(kNotFound) naming the file and the tensor.
  const TensorView& get(const std::string& name) const;
  const std::map<std::string, TensorView>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  std::shared_ptr<MappedFile> file_;
  std::map<std::string, TensorView> tensors_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace websd
