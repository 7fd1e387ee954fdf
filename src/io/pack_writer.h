// `websd convert`: any model websd opens (diffusers folder, single-file checkpoint, pack) -> a web pack.
#pragma once

#include <functional>
#include <map>
#include <string>

#include "io/model_source.h"
#include "io/pack.h"

namespace websd {

struct PackReport {
  struct Component {
    uint64_t source_bytes = 0, pack_bytes = 0;
    int tensors = 0, quantized = 0;
  };
  std::map<std::string, Component> components;
  int shards = 0;
  uint64_t total_bytes = 0;
};

// Writes the pack into `outdir` (created; an existing manifest there is replaced). `on_shard(i, bytes)` reports
// each shard as it is written.
PackReport write_pack(const ModelSource& source, const std::string& outdir, PackDType dtype,
                      const std::function<void(int, uint64_t)>& on_shard = {});

// Recomputes every shard's and tokenizer file's sha256 and size against the manifest; Error(kCorruptFile)
// names the first file that differs.
void verify_pack(const std::string& dir);

}  // namespace websd
