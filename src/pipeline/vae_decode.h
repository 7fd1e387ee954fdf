// Latents to pixels with the VAE decoder (or a TAESD decoder, models/taesd.h): in one piece where that fits the
// backend, otherwise in overlapping tiles blended exactly as diffusers' AutoencoderKL.tiled_decode blends them. One piece does not always fit: the
// SD 1.x decoder at 512x512 has 128-channel f32 activations of 134 MB (above WebGPU's default 128 MiB per
// binding), and SDXL's at 1024x1024 needs a 2.5 GiB arena.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <vector>

#include "backends/backend.h"
#include "io/weight_source.h"
#include "models/taesd.h"
#include "models/vae.h"

namespace websd {

class VaeDecoder {
 public:
  // Latents of lh x lw. tile_latent: 0 = whole if the whole decode fits the backend's limits, else the largest
  // tile (64, 48, 32, 24, 16, 8 or 4 latents; 64 is diffusers' default for 512-pixel VAEs) that fits;
  // another value forces tiles of that many latents.
  VaeDecoder(std::shared_ptr<Backend> backend, const VaeConfig& cfg, std::shared_ptr<WeightSource> weights, int lh,
             int lw, int tile_latent = 0);
  // AutoencoderTiny's decoder, the same way (its clamp and its [0, 1] output are taken care of).
  VaeDecoder(std::shared_ptr<Backend> backend, const TaesdConfig& cfg, std::shared_ptr<WeightSource> weights, int lh,
             int lw, int tile_latent = 0);

  // z: [latent_channels, lh, lw], already z / scaling_factor + shift_factor (the decoder's own: TAESD's are 1 and
  // 0). Returns [3, H, W], about [-1, 1].
  std::vector<float> decode(const std::vector<float>& z, const std::atomic<bool>* cancel = nullptr);
  int tile_latent() const { return tile_; }  // 0 when decoding in one piece

 private:
  // The decoder compiled for latents of h x w (tiles at the right and bottom edges are smaller).
  struct Compiled {
    VaeDecoderGraph net;
    std::unique_ptr<Executable> exe;
  };
  using Build = std::function<VaeDecoderGraph(int h, int w)>;
  VaeDecoder(std::shared_ptr<Backend> backend, Build build, int scale, int latent_channels, bool taesd, int lh, int lw,
             int tile_latent);
  bool fits(int h, int w) const;
  Compiled& compiled(int h, int w);
  std::vector<float> run(Compiled& c, const std::vector<float>& z, const std::atomic<bool>* cancel);
  std::vector<float> decode_tiles(const std::vector<float>& z, const std::atomic<bool>* cancel);

  std::shared_ptr<Backend> backend_;
  Build build_;
  int scale_, latent_channels_;
  bool taesd_;
  int lh_, lw_, tile_ = 0;
  std::map<std::pair<int, int>, Compiled> compiled_;
};

}  // namespace websd
