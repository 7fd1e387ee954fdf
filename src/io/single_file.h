// Single-file Stable Diffusion checkpoints in the original (CompVis/LDM, and OpenCLIP for SD 2.x) tensor naming.
#pragma once

#include <memory>
#include <string>

#include "io/model_source.h"

namespace websd {

// Detects the family from tensor names and shapes, maps every tensor onto the diffusers name (splitting OpenCLIP's
// fused attention projections, reshaping 1×1-conv attention weights of the VAE), and synthesizes the configs
// diffusers would use. Unsupported families (SDXL, inpainting, ...) are an Error(kUnsupported) naming what was found.
std::unique_ptr<ModelSource> open_single_file(const std::string& path, const ModelSourceOptions& options);

}  // namespace websd
