// Pixels to latents with the VAE encoder, for the pipelines that start from an image (img2img): the latent
// distribution's moments once per image, then a sample per generation drawn with that generation's generator,
// as diffusers' retrieve_latents(vae.encode(image), generator) draws it (before the pipeline's noise).
#pragma once

#include <atomic>
#include <vector>

#include "backends/backend.h"
#include "io/weight_source.h"
#include "models/vae.h"
#include "pipeline/image.h"
#include "sampling/torch_rng.h"

namespace websd {

// The encoder's mean and log-variance (clamped to [-30, 20] as diffusers' DiagonalGaussianDistribution does)
// for an image whose sides are multiples of the VAE's scale.
struct LatentDistribution {
  int channels = 0, height = 0, width = 0;
  std::vector<float> mean, logvar;  // [channels, height, width] each

  // mean + exp(logvar / 2) * randn, the randn drawn from `gen` (float32, as torch computes it).
  std::vector<float> sample(TorchGenerator& gen) const;
};

LatentDistribution encode_image(Backend& backend, const VaeConfig& cfg, const WeightSource& weights,
                                const FloatImage& image, const std::atomic<bool>* cancel = nullptr);

}  // namespace websd
