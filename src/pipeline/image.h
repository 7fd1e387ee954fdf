// Images as the pipeline returns them, and the conversions from network outputs.
#pragma once

#include <cstdint>
#include <vector>

namespace websd {

struct RgbImage {
  int width = 0, height = 0;
  std::vector<uint8_t> pixels;  // row-major RGB, 3 bytes per pixel
};

// An image as the pipelines take one in (img2img): row-major RGB in [0, 1], as diffusers' image tensors are.
struct FloatImage {
  int width = 0, height = 0;
  std::vector<float> rgb;  // 3 floats per pixel
  bool empty() const { return rgb.empty(); }
};
// 8-bit to [0, 1] as diffusers' image processor does: value / 255 in float32.
FloatImage to_float(const RgbImage& image);
// A mask picture to one value per pixel in [0, 1] (white = 1 = repaint): its luminance as PIL's convert("L")
// computes it (ITU-R 601-2 weights, rounded to 8 bits), / 255. `channels` is 1 (grey) or 3 (RGB).
std::vector<float> mask_values(const uint8_t* pixels, int width, int height, int channels);

// [c, h, w] resized to [c, out_h, out_w] bilinearly as torch's interpolate(mode="bilinear", align_corners=False,
// antialias=False) does: latents for a hires fix, or an image's planes.
std::vector<float> resize_bilinear(const std::vector<float>& chw, int c, int h, int w, int out_h, int out_w);

// VAE decoder output [3, H, W] in about [-1, 1] -> 8-bit RGB, as diffusers does: clamp(x / 2 + 0.5, 0, 1),
// then round(x * 255).
RgbImage decoded_to_rgb(const float* chw, int width, int height);

// A cheap preview straight from the latents [4, h, w] the UNet works on: a fixed linear map from the four latent
// channels to RGB (no VAE), at latent resolution, fitted to SD 1.x/2.x's latent space or to SDXL's. Good enough to
// watch an image form.
RgbImage latent_preview(const float* latents, int width, int height, bool sdxl = false);

}  // namespace websd
