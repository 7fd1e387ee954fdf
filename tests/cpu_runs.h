// Runs on tiny-sd1 that diffusers has no reference for, one table for the cpu tests (checked there by rule or by
// property) and the webgpu checks (web/model_parity.cpp, against the cpu backend): a weighted prompt of two chunks
// (prompt_chunks.h), inpainting with the regular 4-channel UNet (denoise.h, KnownRegion) and a hires fix.
#pragma once

#include <string>
#include <vector>

#include "pipeline/stable_diffusion.h"

namespace websd::test {

// 75 + 13 tokens: the second chunk starts after the comma (20 tokens from the end of the first), weights in both.
inline std::string long_weighted_prompt() {
  std::string s = "a (photo:1.3) of";
  for (int i = 0; i < 54; ++i) s += " cat";
  s += ", [[a red fox]] on mars";
  for (int i = 0; i < 15; ++i) s += " dog";
  return s + " ((in the snow))";
}

inline GenerateParams long_prompt_params() {
  GenerateParams p;
  p.width = p.height = 64;
  p.steps = 3;
  p.seed = 5;
  p.scheduler = "euler_a";
  p.prompt = long_weighted_prompt();
  p.negative_prompt = "blurry, (low quality:1.2)";
  return p;
}

// A hires fix from 64x64 to 96x96 (both passes on the backend).
inline GenerateParams hires_params() {
  GenerateParams p;
  p.prompt = "a lighthouse at dusk";
  p.width = p.height = 64;
  p.steps = 3;
  p.seed = 21;
  p.scheduler = "dpmpp_2m";
  p.hires_scale = 1.5f;
  p.hires_strength = 0.7f;
  return p;
}

// The right half of a patterned picture repainted, from pure noise (strength 1: the default with a mask).
inline GenerateParams regular_inpaint_params() {
  GenerateParams p;
  p.prompt = "a red vase";
  p.steps = 4;
  p.seed = 77;
  p.scheduler = "euler_a";
  p.init_image = {64, 64, std::vector<float>(64 * 64 * 3)};
  for (size_t i = 0; i < p.init_image.rgb.size(); ++i) p.init_image.rgb[i] = float((i * 37) % 256) / 255.0f;
  p.mask.assign(64 * 64, 0.0f);
  for (int y = 0; y < 64; ++y)
    for (int x = 32; x < 64; ++x) p.mask[size_t(y * 64 + x)] = 1.0f;
  return p;
}

}  // namespace websd::test
