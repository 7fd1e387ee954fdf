// Where a pipeline's parts come from: a diffusers folder, or a single-file checkpoint (original LDM/CompVis tensor
// names, mapped onto the diffusers layout with configs inferred from tensor shapes). The pipeline only sees this.
#pragma once

#include <memory>
#include <string>

#include "io/config.h"
#include "io/weight_source.h"

namespace websd {

class ModelSource {
 public:
  virtual ~ModelSource() = default;
  virtual std::string path() const = 0;
  virtual std::string pipeline_class() const = 0;  // "StableDiffusionPipeline", ...
  // model_index.json (or what it would say): the pipeline class, its components and pipeline options.
  virtual Config pipeline_config() const {
    return Config(nlohmann::json{{"_class_name", pipeline_class()}}, path());
  }
  virtual bool has_component(const std::string& name) const = 0;
  // The component's config (scheduler_config.json for schedulers), as diffusers would have written it.
  virtual Config config(const std::string& component) const = 0;
  // Weights under their diffusers names.
  virtual std::shared_ptr<WeightSource> weights(const std::string& component) const = 0;
  // A folder with the tokenizer files of `component` ("tokenizer", "tokenizer_2").
  virtual std::string tokenizer_dir(const std::string& component) const = 0;
};

struct ModelSourceOptions {
  std::string tokenizer_dir;  // for single files, which carry no tokenizer: a folder with vocab.json + merges.txt
                              // or tokenizer.json (default: a tokenizer/ folder next to the file)
};

// A folder with model_index.json, a web pack (a folder with manifest.json, or the manifest itself), or a
// .safetensors file. Pickled .ckpt/.bin/.pt files are refused with an
// explanation (never unpickled). Errors name the path and the problem.
std::unique_ptr<ModelSource> open_model_source(const std::string& path, const ModelSourceOptions& options = {});

}  // namespace websd
