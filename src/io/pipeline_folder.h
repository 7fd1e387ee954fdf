// A Stable Diffusion pipeline folder as diffusers saves it: model_index.json plus one folder per component
// (unet/, vae/, text_encoder/, tokenizer/, scheduler/), each with its config and safetensors weights.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "io/config.h"
#include "io/weight_source.h"

namespace websd {

class PipelineFolder {
 public:
  // Throws Error(kNotFound) if `dir` or its model_index.json is missing.
  static PipelineFolder open(const std::string& dir);

  const std::string& dir() const { return dir_; }
  const Config& index() const { return index_; }
  std::string pipeline_class() const { return index_.get_string("_class_name", "?"); }
  bool has_component(const std::string& name) const;
  std::string component_dir(const std::string& name) const { return dir_ + "/" + name; }

  Config config(const std::string& component) const;  // <component>/config.json (scheduler_config.json for schedulers)
  // The component's weights. For text encoders, tensor names with and without the `text_model.` prefix both load.
  std::shared_ptr<SafetensorsWeights> weights(const std::string& component) const;

 private:
  std::string dir_;
  Config index_;
};

// The safetensors files holding a component's weights in `dir` (single file, fp16 variant or shards).
// Pickled .bin/.ckpt/.pt files are refused with an explanation; never unpickled.
std::vector<std::string> find_weight_files(const std::string& dir);

}  // namespace websd
