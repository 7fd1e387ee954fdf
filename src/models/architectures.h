// The real Stable Diffusion architectures, by name, for benchmarks and size reports that need no weight files
// (weights are synthesized): the configs the published checkpoints ship.
#pragma once

#include <string>
#include <vector>

#include "models/clip_text_encoder.h"
#include "models/unet.h"
#include "models/vae.h"

namespace websd {

struct Architecture {
  std::string name;                        // "sd15", "sd21", "sdxl", or the model's path
  std::vector<ClipTextConfig> text_encoders;
  UNetConfig unet;
  VaeConfig vae;
  int native_size = 512;                   // pixels
};

// By name, or copied from the configs of a model at a path (one holding a '/': a diffusers folder, a pack, a single
// file), e.g. a tiny test model. Error(kInvalidArgument) listing the names for an unknown one.
Architecture architecture(const std::string& name);
const std::vector<std::string>& architecture_names();

}  // namespace websd
