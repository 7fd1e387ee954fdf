#include "pipeline/vae_encode.h"

#include <algorithm>
#include <cmath>

namespace websd {

std::vector<float> LatentDistribution::sample(TorchGenerator& gen) const {
  const std::vector<float> eps = gen.randn(mean.size());
  std::vector<float> z(mean.size());
  for (size_t k = 0; k < z.size(); ++k) z[k] = mean[k] + std::exp(0.5f * logvar[k]) * eps[k];
  return z;
}

LatentDistribution encode_image(Backend& backend, const VaeConfig& cfg, const WeightSource& weights,
                                const FloatImage& image, const std::atomic<bool>* cancel) {
  const int h = image.height, w = image.width, scale = cfg.downscale();
  auto net = build_vae_encoder(cfg, weights, 1, h, w);
  auto exe = backend.compile(net.graph);
  // HWC in [0, 1] to CHW in [-1, 1]: diffusers' image processor normalises with 2x - 1.
  std::vector<float> chw(size_t(3) * size_t(h) * size_t(w));
  const size_t plane = size_t(h) * size_t(w);
  for (size_t p = 0; p < plane; ++p)
    for (size_t c = 0; c < 3; ++c) chw[c * plane + p] = 2.0f * image.rgb[p * 3 + c] - 1.0f;
  exe->set_input(net.image, chw.data());
  exe->run(cancel);
  std::vector<float> moments(size_t(net.graph->shape(net.moments).numel()));
  exe->read(net.moments, moments.data());
  LatentDistribution d;
  d.channels = cfg.latent_channels;
  d.height = h / scale;
  d.width = w / scale;
  const size_t n = size_t(d.channels) * size_t(d.height) * size_t(d.width);
  d.mean.assign(moments.begin(), moments.begin() + long(n));
  d.logvar.assign(moments.begin() + long(n), moments.begin() + long(2 * n));
  for (auto& v : d.logvar) v = std::clamp(v, -30.0f, 20.0f);
  return d;
}

}  // namespace websd
