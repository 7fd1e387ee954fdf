// CLIP text encoder (transformers CLIPTextModel / CLIPTextModelWithProjection), built from its config.json.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "core/graph.h"
#include "io/config.h"
#include "io/weight_source.h"

namespace websd {

struct ClipTextConfig {
  int vocab_size = 49408;
  int hidden_size = 768;
  int intermediate_size = 3072;
  int num_heads = 12;
  int num_layers = 12;
  int max_positions = 77;
  std::string act = "quick_gelu";  // or "gelu"
  float eps = 1e-5f;
  int projection_dim = 0;          // > 0 for CLIPTextModelWithProjection (text_projection, no bias)
  int eos_token_id = 49407;

  static ClipTextConfig from(const Config& c);  // Error(kUnsupported) for what this engine does not implement
  static ClipTextConfig sd15();                 // the SD 1.5 text encoder (ViT-L/14 text tower)
};

struct ClipTextGraph {
  std::shared_ptr<Graph> graph;
  TensorId ids = -1;          // input i32 [B, 77]
  TensorId last_hidden = -1;  // output "last_hidden_state" [B, 77, D], after the final layer norm
  TensorId penultimate = -1;  // output "penultimate_hidden_state" [B, 77, D]: hidden_states[-2] (SD 2.x, SDXL)
};

ClipTextGraph build_clip_text_encoder(const ClipTextConfig& cfg, const WeightSource& weights, int batch);

// The position transformers pools at (CLIPTextTransformer's pooled_output) for one row of ids: the first
// eos_token_id, or with the legacy eos_token_id 2 of older configs the first maximal id (eos is the largest);
// 0 if there is none.
int clip_pooled_position(const ClipTextConfig& cfg, std::span<const int32_t> ids);

// CLIPTextModelWithProjection's text_embeds: text_projection (no bias) of the pooled final-layer-normed states.
struct ClipProjectionGraph {
  std::shared_ptr<Graph> graph;
  TensorId pooled = -1;       // input [B, D]: last_hidden_state at clip_pooled_position
  TensorId text_embeds = -1;  // output "text_embeds" [B, projection_dim]
};
ClipProjectionGraph build_clip_text_projection(const ClipTextConfig& cfg, const WeightSource& weights, int batch);

}  // namespace websd
