// AutoencoderTiny (diffusers; TAESD, the tiny autoencoder of Stable Diffusion's latent space): plain 3×3
// convolutions, ReLU and residual blocks, a few MB instead of the VAE's 160. Its decoder draws live previews — and,
// where a user wants speed over the last detail, the final image — from the latents the UNet works on, with no
// scaling factor in between (scaling_factor 1).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/graph.h"
#include "io/config.h"
#include "io/weight_source.h"

namespace websd {

struct TaesdConfig {
  int in_channels = 3, out_channels = 3, latent_channels = 4;
  std::vector<int> encoder_block_out_channels{64, 64, 64, 64}, decoder_block_out_channels{64, 64, 64, 64};
  std::vector<int> num_encoder_blocks{1, 3, 3, 3}, num_decoder_blocks{3, 3, 3, 1};
  int upsampling_scaling_factor = 2;
  float scaling_factor = 1.0f, shift_factor = 0.0f;

  // A config.json of `_class_name` AutoencoderTiny; Error(kUnsupported) naming the key for what websd does not
  // build (another activation or upsampling mode).
  static TaesdConfig from(const Config& c);
  int downscale() const;  // pixels per latent: 8
};

// The graphs take and give what diffusers' AutoencoderTiny modules see inside: the decoder's input is already
// clamped (tanh(z / 3) · 3, taesd_clamp) and its output is in [0, 1]; the encoder's input is in [0, 1].
struct TaesdGraph {
  std::shared_ptr<Graph> graph;
  TensorId input = -1, output = -1;
};

TaesdGraph build_taesd_decoder(const TaesdConfig& cfg, const WeightSource& weights, int latent_h, int latent_w);
TaesdGraph build_taesd_encoder(const TaesdConfig& cfg, const WeightSource& weights, int height, int width);

// An AutoencoderTiny folder as diffusers saves one (config.json and its safetensors, e.g. madebyollin/taesd or
// taesdxl). Error naming the folder when it is missing or another kind of autoencoder.
struct TaesdModel {
  TaesdConfig cfg;
  std::shared_ptr<WeightSource> weights;
  static TaesdModel open(const std::string& dir);
};

// DecoderTiny's soft clamp of its input: tanh(z / 3) · 3, in place.
void taesd_clamp(std::vector<float>& z);

}  // namespace websd
