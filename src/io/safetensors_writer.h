// Writer for the safetensors format (the inverse of SafetensorsFile): converters and tests produce
// checkpoints that any safetensors reader accepts.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/shape.h"

namespace websd {

struct TensorToWrite {
  std::string name;
  DType dtype = DType::kF32;
  Shape shape;
  const void* data = nullptr;  // numel × dtype_size bytes; only read during write_safetensors
};

// Writes `tensors` and `metadata` (the header's __metadata__ map) to `path`. The header's keys are sorted and
// padded so the data section starts 8-byte aligned; tensors are laid out largest element size first, so each
// one is aligned to its own element size. The file appears under its name only once complete (written to
// `path`.partial, then renamed). Throws Error(kInvalidArgument) for duplicate or reserved names,
// Error(kNotFound) when the file cannot be created, Error(kInternal) when a write fails (disk full).
void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace websd
