// ControlNetModel (diffusers): a trainable copy of the UNet's encoder half that reads a control image (an edge
// map, a pose, a depth picture) and whose outputs, through zero-initialised 1×1 convolutions, are added to the
// UNet's skip connections and to its mid block. It shares the UNet's inputs and building blocks
// (unet_blocks.h), so a UNet with ControlNets is one graph.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "io/config.h"
#include "io/weight_source.h"
#include "models/unet.h"

namespace websd {

struct ControlNetConfig {
  UNetConfig unet;  // the down and mid blocks, the time embedding (its up blocks are unused)
  int conditioning_channels = 3;
  std::vector<int> conditioning_embedding_out_channels{16, 32, 96, 256};
  bool bgr = false;  // controlnet_conditioning_channel_order "bgr": the image's channels are flipped

  // A config.json of `_class_name` ControlNetModel; Error(kUnsupported) naming the key for what websd does not
  // build (pooled conditions, other block kinds).
  static ControlNetConfig from(const Config& c);
  // The ControlNet made for this UNet, as lllyasviel's and diffusers' training scripts make one: its encoder half
  // and the usual conditioning embedding (for benchmarks on synthesized weights).
  static ControlNetConfig for_unet(const UNetConfig& unet);
  // Pixels per latent of the control image: the conditioning embedding halves it once per stage after the first.
  int downscale() const { return 1 << (conditioning_embedding_out_channels.size() - 1); }
};

// Error(kInvalidArgument) saying what differs when the ControlNet at `where` was not made for this base model
// (the text features' width, the blocks, the latent scale) and which family each belongs to.
void check_controlnet_fits(const ControlNetConfig& cn, const UNetConfig& base, int vae_downscale,
                           const std::string& where);

// A ControlNet as websd opens one: a folder as diffusers saves it (config.json and its safetensors), its web pack,
// or one .safetensors file, in diffusers' or the original naming (control_model.*), whose config is read from its
// tensors. Errors name the path.
struct ControlNetModel {
  std::string path;
  ControlNetConfig cfg;
  std::shared_ptr<WeightSource> weights;
  // A config read from tensors holds no attention heads (no shape does): they were guessed as SD 1.x and 2.x have
  // them, and fit_to takes the base model's instead.
  bool guessed_heads = false;
  static ControlNetModel open(const std::string& path);
  // check_controlnet_fits, then the base UNet's attention heads where they were guessed.
  void fit_to(const UNetConfig& base, int vae_downscale);
};

// Adds the ControlNet to `net` (unet_inputs; the ControlNet reads its sample, time features, text and added
// conditioning): its inputs control_image_<k> [B, 3, H, W] and control_scale_<k> [1] (k: the ControlNets added
// before it), appended to net.control_images / control_scales. Returns its residuals times the scale.
UNetResiduals add_controlnet(const ControlNetConfig& cfg, const WeightSource& weights, UNetGraph& net);

// The ControlNet alone on a UNet's inputs (unet_inputs of `base`): its residuals marked as outputs "down_<i>" and
// "mid" (for checks and benchmarks).
UNetGraph build_controlnet(const ControlNetConfig& cfg, const WeightSource& weights, const UNetConfig& base, int batch,
                           int latent_h, int latent_w, int context_len = 77);

// A UNet whose skip connections receive the residuals of `controls` (summed in order, each times its scale).
struct ControlNetUse {
  const ControlNetConfig* cfg;
  const WeightSource* weights;
};
UNetGraph build_controlled_unet(const UNetConfig& cfg, const WeightSource& weights,
                                const std::vector<ControlNetUse>& controls, int batch, int latent_h, int latent_w,
                                int context_len = 77);

// The control image [H, W, 3] (rgb, in [0, 1]) as the graph input of one batch entry: planes [3, H, W] in the
// ControlNet's channel order.
std::vector<float> control_image_planes(const ControlNetConfig& cfg, const std::vector<float>& rgb, int width,
                                        int height);

}  // namespace websd
