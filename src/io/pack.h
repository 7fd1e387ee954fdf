// The web pack: a model converted for the browser. A folder holding
//
//   manifest.json             format, version, pipeline (model_index.json), every component's config, the tensor
//                             table, tokenizer files and shards, each with its size and sha256
//   shard-00000.safetensors   tensor bytes in shards of at most 128 MiB (valid safetensors files, tensors named
//   ...                       "<component>/<tensor>"), so that a browser fetches, checks, caches and uploads
//                             one shard at a time
//   tokenizer/, tokenizer_2/  the tokenizer files
//
// The tensor table gives, per component and tensor, dtype, shape, shard index and the byte offset and size inside
// that shard file: a reader can slice tensors out of a fetched shard without parsing its header. Quantized (q8)
// tensors are I8 with an F32 "scales" entry (one per output channel) stored the same way.
#pragma once

#include <cstdint>
#include <string>

#include "core/shape.h"

namespace websd {

inline constexpr char kPackFormat[] = "websd-pack";
inline constexpr int kPackVersion = 1;
inline constexpr uint64_t kMaxShardBytes = 128ull << 20;
inline constexpr char kPackManifest[] = "manifest.json";

// The stored weight type of a pack. q8 quantizes the large matmul and convolution weights (rank >= 2, at least
// kQ8MinElements values, not embeddings) to int8 with per-output-channel scales; everything else stays f16.
enum class PackDType { kF32, kF16, kQ8 };
inline constexpr int64_t kQ8MinElements = 1024;
inline bool q8_quantizable(const std::string& name, const Shape& shape) {
  return shape.rank() >= 2 && shape.numel() >= kQ8MinElements && name.find("embedding") == std::string::npos;
}

const char* pack_dtype_name(PackDType t);
bool parse_pack_dtype(const std::string& s, PackDType* out);

}  // namespace websd
