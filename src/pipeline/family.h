// Which model family a pipeline is, read from its configs (model_index.json, unet/ and text_encoder/
// config.json) before any weights load: what websd runs, or an Error(kUnsupported) that names what was found.
#pragma once

#include <string>

#include "io/model_source.h"

namespace websd {

enum class PipelineKind {
  kStableDiffusion,    // StableDiffusionPipeline, StableDiffusionInpaintPipeline, LatentConsistencyModelPipeline:
                       // one CLIP text encoder
  kStableDiffusionXL,  // StableDiffusionXLPipeline: two text encoders, text_time added conditioning
};

struct ModelFamily {
  std::string pipeline_class;  // model_index.json _class_name
  PipelineKind kind = PipelineKind::kStableDiffusion;
  // "sd1" (CLIP ViT-L text encoder), "sd2" (OpenCLIP ViT-H), "sdxl"; "-lcm" appended when the UNet embeds the
  // guidance scale (latent-consistency distilled).
  std::string name;
  // The UNet takes the guidance scale as an embedding (time_cond_proj_dim): no unconditional pass, ever.
  bool guidance_embedding = false;
  // An inpainting UNet: its input is the latents, the mask and the masked image's latents (2 * latent + 1
  // channels); it needs an image and a mask to run. "-inpaint" is appended to the name.
  bool inpainting = false;
  std::string description;  // one line for people: "Stable Diffusion XL", ...
};

ModelFamily detect_family(const ModelSource& src);

}  // namespace websd
