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

std::vector<float> resize_bilinear(const std::vector<float>& chw, int c, int h, int w, int out_h, int out_w) {
  // Source coordinate of an output pixel's centre, clamped at 0 as torch clamps it; the neighbour below/right is
  // clamped to the last row/column.
  auto taps = [](int out, int in, int i, int& i0, int& i1, float& t) {
    const float src = std::max((float(i) + 0.5f) * float(in) / float(out) - 0.5f, 0.0f);
    i0 = std::min(int(src), in - 1);
    i1 = std::min(i0 + 1, in - 1);
    t = src - float(i0);
  };
  std::vector<float> out(size_t(c) * size_t(out_h) * size_t(out_w));
  for (int y = 0; y < out_h; ++y) {
    int y0, y1;
    float ty;
    taps(out_h, h, y, y0, y1, ty);
    for (int x = 0; x < out_w; ++x) {
      int x0, x1;
      float tx;
      taps(out_w, w, x, x0, x1, tx);
      for (int k = 0; k < c; ++k) {
        const float* p = chw.data() + size_t(k) * size_t(h) * size_t(w);
        const float top = p[size_t(y0) * w + x0] * (1 - tx) + p[size_t(y0) * w + x1] * tx;
        const float bottom = p[size_t(y1) * w + x0] * (1 - tx) + p[size_t(y1) * w + x1] * tx;
        out[(size_t(k) * out_h + y) * out_w + x] = top * (1 - ty) + bottom * ty;
      }
    }
  }
  return out;
}

RgbImage latent_preview(const float* latents, int width, int height, bool sdxl) {
  // Least-squares fits of RGB to each latent space (the factors the community uses for live previews).
  static constexpr float kSdToRgb[4][3] = {
      {0.298f, 0.207f, 0.208f}, {0.187f, 0.286f, 0.173f}, {-0.158f, 0.189f, 0.264f}, {-0.184f, -0.271f, -0.473f}};
  static constexpr float kSdxlToRgb[4][3] = {{0.3651f, 0.4232f, 0.4341f},
                                             {-0.2533f, -0.0042f, 0.1068f},
                                             {0.1076f, 0.1111f, -0.0362f},
                                             {-0.3165f, -0.2492f, -0.2188f}};
  static constexpr float kSdxlBias[3] = {0.1084f, -0.0175f, -0.0011f};
  const auto& to_rgb = sdxl ? kSdxlToRgb : kSdToRgb;
  RgbImage img{width, height, std::vector<uint8_t>(size_t(width) * size_t(height) * 3)};
  const size_t plane = size_t(width) * size_t(height);
  for (size_t i = 0; i < plane; ++i)
    for (size_t c = 0; c < 3; ++c) {
      float v = sdxl ? kSdxlBias[c] : 0.0f;
      for (size_t k = 0; k < 4; ++k) v += latents[k * plane + i] * to_rgb[k][c];
      img.pixels[i * 3 + c] = uint8_t(std::lround(std::clamp(v / 2.0f + 0.5f, 0.0f, 1.0f) * 255.0f));
    }
  return img;
}

}  // namespace websd
