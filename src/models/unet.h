// UNet2DConditionModel (diffusers) for SD 1.x, 2.x and SDXL, with or without a guidance-scale embedding
// (latent-consistency-distilled models), built from its config.json.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/graph.h"
#include "io/config.h"
#include "io/weight_source.h"

namespace websd {

struct UNetConfig {
  int in_channels = 4, out_channels = 4;
  std::vector<int> block_out_channels{320, 640, 1280, 1280};
  std::vector<std::string> down_block_types{"CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D",
                                            "DownBlock2D"};
  std::vector<std::string> up_block_types{"UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D",
                                          "CrossAttnUpBlock2D"};
  int layers_per_block = 2;
  std::vector<int> heads{8, 8, 8, 8};                 // attention heads per down block (diffusers' naming quirk:
                                                      // SD 1.x calls this attention_head_dim)
  std::vector<int> transformer_layers{1, 1, 1, 1};    // per down block
  int cross_attention_dim = 768;
  bool use_linear_projection = false;
  int norm_num_groups = 32;
  float norm_eps = 1e-5f;
  bool flip_sin_to_cos = true;
  float freq_shift = 0;
  enum class MidBlock { kCrossAttn, kPlain, kNone } mid_block = MidBlock::kCrossAttn;
  // LCM-distilled UNets: the guidance scale enters as an embedding of this width (0: none), through
  // time_embedding.cond_proj; pipelines then skip the unconditional pass.
  int time_cond_proj_dim = 0;
  // SDXL (addition_embed_type "text_time"): pooled text embeds and six size/crop ids, through add_embedding.
  bool text_time = false;
  int addition_time_embed_dim = 0;
  int projection_class_embeddings_input_dim = 0;

  static UNetConfig from(const Config& c);
  static UNetConfig sd15();
  int time_embed_dim() const { return block_out_channels[0] * 4; }
};

// What ControlNets add to a UNet (models/controlnet.h makes them): one tensor per skip connection, in diffusers'
// order (down_block_additional_residuals: conv_in's output first), and one for the mid block's output.
struct UNetResiduals {
  std::vector<TensorId> down;
  TensorId mid = -1;
};

struct UNetGraph {
  std::shared_ptr<Graph> graph;
  TensorId sample = -1;     // input [B, in, h, w]
  TensorId time_proj = -1;  // input [B, block_out_channels[0]]: sinusoidal timestep features (unet_time_features)
  TensorId context = -1;    // input [B, 77, cross_attention_dim]
  TensorId timestep_cond = -1;  // input [B, time_cond_proj_dim] (guidance_scale_embedding) when the config has it
  TensorId added_cond = -1;     // input [B, projection_class_embeddings_input_dim] (text_time_condition) for SDXL
  TensorId out = -1;        // output "noise_pred" [B, out, h, w]
  // With ControlNets (controlnet.h), per ControlNet in order: its control image [B, 3, H, W] in [0, 1], and its
  // conditioning scale [1] for this step (0 outside its share of the steps).
  std::vector<TensorId> control_images, control_scales;
};

UNetGraph build_unet(const UNetConfig& cfg, const WeightSource& weights, int batch, int latent_h, int latent_w,
                     int context_len = 77);

// build_unet in two halves, for networks that feed the UNet (ControlNets) to be built in between on the same inputs:
// the graph and its inputs, then the UNet's layers with `residuals` (if any) added where diffusers adds them.
UNetGraph unet_inputs(const UNetConfig& cfg, int batch, int latent_h, int latent_w, int context_len = 77);
void add_unet_layers(const UNetConfig& cfg, const WeightSource& weights, UNetGraph& net,
                     const UNetResiduals* residuals = nullptr);

// diffusers' get_timestep_embedding for one timestep, with its float32 rounding, into
// dst[block_out_channels[0]].
void unet_time_features(const UNetConfig& cfg, float timestep, float* dst);

}  // namespace websd
