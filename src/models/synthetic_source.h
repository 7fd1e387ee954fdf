// A model of a named architecture (sd15, sd21, sdxl) with the configs diffusers would have saved for it and
// deterministic random f16 weights, made on request: whole generations of real architectures can be timed where
// no weights can be downloaded. Only the tokenizer comes from files (a folder with vocab.json + merges.txt).
#pragma once

#include <memory>
#include <string>

#include "io/model_source.h"
#include "models/architectures.h"

namespace websd {

std::unique_ptr<ModelSource> synthetic_model_source(const Architecture& arch, const std::string& tokenizer_dir);

}  // namespace websd
