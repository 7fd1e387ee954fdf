// Opening a web pack (see pack.h) natively: shards are memory-mapped, tensors served from them by the manifest.
#pragma once

#include <memory>
#include <string>

#include "io/model_source.h"

namespace websd {

// Checks the manifest (format, version, every shard present with its recorded size); Errors name the file.
// Shard contents are checked against their sha256 by verify_pack(), not here (that reads every byte).
std::unique_ptr<ModelSource> open_pack(const std::string& dir);

}  // namespace websd
