#include "pipeline/image.h"

#include <algorithm>
#include <cmath>

namespace websd {

FloatImage to_float(const RgbImage& image) {
  FloatImage f{image.width, image.height, std::vector<float>(image.pixels.size())};
  for (size_t i = 0; i < f.rgb.size(); ++i) f.rgb[i] = float(image.pixels[i]) / 255.0f;
  return f;
}

std::vector<float> mask_values(const uint8_t* pixels, int width, int height, int channels) {
  std::vector<float> out(size_t(width) * size_t(height));
  for (size_t i = 0; i < out.size(); ++i) {
    const uint8_t* p = pixels + i * size_t(channels);
    const uint32_t l = channels == 1 ? p[0] : (p[0] * 19595u + p[1] * 38470u + p[2] * 7471u + 0x8000u) >> 16;
    out[i] = float(l) / 255.0f;
  }
  return out;
}

RgbImage decoded_to_rgb(const float* chw, int width, int height) {
  RgbImage img{width, height, std::vector<uint8_t>(size_t(width) * size_t(height) * 3)};
  const size_t plane = size_t(width) * size_t(height);
  for (size_t i = 0; i < plane; ++i)
    for (size_t c = 0; c < 3; ++c) {
      const float v = std::clamp(chw[c * plane + i] / 2.0f + 0.5f, 0.0f, 1.0f);
      img.pixels[i * 3 + c] = uint8_t(std::lround(v * 255.0f));
    }
  return img;
}

RgbImage latent_preview(const float* latents, int width, int height) {
  // Least-squares fit of RGB to SD latents (the factors the community uses for live previews).
  static constexpr float kToRgb[4][3] = {
      {0.298f, 0.207f, 0.208f}, {0.187f, 0.286f, 0.173f}, {-0.158f, 0.189f, 0.264f}, {-0.184f, -0.271f, -0.473f}};
  RgbImage img{width, height, std::vector<uint8_t>(size_t(width) * size_t(height) * 3)};
  const size_t plane = size_t(width) * size_t(height);
  for (size_t i = 0; i < plane; ++i)
    for (size_t c = 0; c < 3; ++c) {
      float v = 0;
      for (size_t k = 0; k < 4; ++k) v += latents[k * plane + i] * kToRgb[k][c];
      img.pixels[i * 3 + c] = uint8_t(std::lround(std::clamp(v / 2.0f + 0.5f, 0.0f, 1.0f) * 255.0f));
    }
  return img;
}

}  // namespace websd
