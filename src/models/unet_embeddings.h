// What a UNet2DConditionModel is conditioned on besides the text: the timestep, and where the family has them
// the guidance-scale embedding of latent-consistency-distilled models (time_cond_proj_dim) and SDXL's
// "text_time" added conditioning (pooled text embeds and the six size/crop ids). The sinusoidal features are
// computed on the host as diffusers computes them; the learned projections are graph nodes.
#pragma once

#include <array>
#include <span>
#include <vector>

#include "core/graph.h"
#include "models/module_builder.h"

namespace websd {

struct UNetConfig;

// diffusers' get_timestep_embedding of one value (scale 1, max_period 10000) into dst[dim], including where
// it rounds to float32.
void timestep_features(float t, int dim, bool flip_sin_to_cos, float freq_shift, float* dst);

// diffusers' get_guidance_scale_embedding(w, dim) into dst[dim]; pipelines pass w = guidance_scale - 1
// (computed in double, as Python does, before torch makes it float32).
void guidance_scale_embedding(double w, int dim, float* dst);

// SDXL's added conditioning of one batch entry: the pooled text embeds, then the timestep features of
// time_ids = [original h, original w, crop top, crop left, target h, target w] with addition_time_embed_dim
// each. Size: cfg.projection_class_embeddings_input_dim (Error(kShapeMismatch) if `pooled` does not fit).
std::vector<float> text_time_condition(const UNetConfig& cfg, std::span<const float> pooled,
                                       const std::array<float, 6>& time_ids);

// The inputs of the time embedding and its output before the shared SiLU.
struct TimeEmbeddingInputs {
  TensorId time_proj = -1;      // [B, block_out_channels[0]]
  TensorId timestep_cond = -1;  // [B, time_cond_proj_dim] or -1
  TensorId added_cond = -1;     // [B, projection_class_embeddings_input_dim] or -1
};
// time_embedding(time_proj + cond_proj(timestep_cond)) + add_embedding(added_cond), as diffusers' forward
// adds them: [B, time_embed_dim].
TensorId time_embedding(ModuleBuilder& m, const UNetConfig& cfg, const TimeEmbeddingInputs& in);

}  // namespace websd
