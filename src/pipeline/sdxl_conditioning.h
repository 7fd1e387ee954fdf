// SDXL's conditioning (diffusers' StableDiffusionXLPipeline.encode_prompt and _get_add_time_ids): the
// penultimate hidden states of both CLIP encoders concatenated per token, the second encoder's projected
// pooled output, and the size/crop time ids, which the UNet's text_time embedding takes together.
#pragma once

#include <array>

#include "models/unet.h"
#include "pipeline/text_conditioning.h"

namespace websd {

// [original h, original w, crop top, crop left, target h, target w] for an image generated at its own size,
// uncropped (diffusers' defaults: original_size = target_size = (height, width), crops (0, 0)).
std::array<float, 6> sdxl_time_ids(int width, int height);

// `text`: text_encoder (CLIPTextModel) with tokenizer; `text_2`: text_encoder_2 (CLIPTextModelWithProjection)
// with tokenizer_2. With `force_zeros_for_empty_prompt` (model_index.json; diffusers' default) an empty
// negative prompt gives all-zero unconditional embeddings, as a missing one does in diffusers. Errors name
// the files when the encoders do not fit `unet`.
std::unique_ptr<PromptConditioner> make_sdxl_conditioner(std::shared_ptr<Backend> backend,
                                                         ClipTextComponent text, ClipTextComponent text_2,
                                                         const UNetConfig& unet,
                                                         bool force_zeros_for_empty_prompt,
                                                         const std::atomic<bool>* cancel);

}  // namespace websd
