// Where a ControlNet comes from, as a ModelSource of one component, "controlnet" (pipeline class ControlNetModel),
// so that `websd convert` packs it and a pack serves it like a pipeline's parts: a folder as diffusers saves a
// ControlNetModel (config.json and its safetensors), its web pack, or one .safetensors file in diffusers' naming
// or the original one (control_model.*), whose config is read from its tensors' names and shapes.
#pragma once

#include <memory>
#include <string>

#include "io/model_source.h"

namespace websd {

inline constexpr char kControlNetClass[] = "ControlNetModel";
// Set (true) in a config read from tensors, whose attention heads were guessed (ControlNetModel::fit_to).
inline constexpr char kGuessedHeadsKey[] = "_websd_guessed_heads";

// Whether `path` is a ControlNet folder (config.json of class ControlNetModel, no model_index.json) or a
// .safetensors file holding a ControlNet's tensors: for open_model_source.
bool is_controlnet(const std::string& path);

// Error(kNotFound / kUnsupported / kCorruptFile) naming the path when it holds no ControlNet (a whole pipeline, a
// LoRA, another kind of network).
std::unique_ptr<ModelSource> open_controlnet_source(const std::string& path);

}  // namespace websd
