// AutoencoderKL (diffusers): the decoder turns latents into images, the encoder images into latent moments.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/graph.h"
#include "io/config.h"
#include "io/weight_source.h"

namespace websd {

struct VaeConfig {
  int in_channels = 3, out_channels = 3, latent_channels = 4;
  std::vector<int> block_out_channels{128, 256, 512, 512};
  int layers_per_block = 2;
  int norm_num_groups = 32;
  bool mid_block_attention = true;
  bool use_quant_conv = true, use_post_quant_conv = true;
  float scaling_factor = 0.18215f;
  float shift_factor = 0.0f;

  static VaeConfig from(const Config& c);
  static VaeConfig sd15();
  int downscale() const { return 1 << (block_out_channels.size() - 1); }
};

struct VaeDecoderGraph {
  std::shared_ptr<Graph> graph;
  TensorId latents = -1;  // input [B, latent, h, w]: already divided by scaling_factor (diffusers' vae.decode input)
  TensorId image = -1;    // output "image" [B, 3, 8h, 8w], roughly in [-1, 1]
};

struct VaeEncoderGraph {
  std::shared_ptr<Graph> graph;
  TensorId image = -1;    // input [B, 3, H, W] in [-1, 1]
  TensorId moments = -1;  // output "moments" [B, 2·latent, H/8, W/8]: mean channels, then log-variance channels
};

VaeDecoderGraph build_vae_decoder(const VaeConfig& cfg, const WeightSource& weights, int batch, int latent_h,
                                  int latent_w);
VaeEncoderGraph build_vae_encoder(const VaeConfig& cfg, const WeightSource& weights, int batch, int height, int width);

}  // namespace websd
