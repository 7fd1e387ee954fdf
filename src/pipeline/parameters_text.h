// How an image records its making: the "parameters" PNG text chunk in the format of the widely used web UI, which
// other Stable Diffusion tools read and show. One implementation for the CLI, the C API and (through the wasm
// build) the browser app and the Node runner.
//
//   a lighthouse <lora:style:0.8>
//   Negative prompt: blurry
//   Steps: 20, Sampler: Euler a, CFG scale: 7.5, Seed: 42, Size: 512x512, Model: sd15, Scheduler: euler_a, ...
#pragma once

#include <cstdint>
#include <string>

#include "pipeline/stable_diffusion.h"

namespace websd {

// What the parameters alone do not say: the sampler used (the model's own when none was asked for), this image's
// seed, the size of its first pass, the model's name.
struct ParametersContext {
  std::string scheduler;
  uint64_t seed = 0;
  int width = 0, height = 0;
  std::string model;
};

std::string parameters_text(const GenerateParams& p, const ParametersContext& context);

// The sampler names other tools print ("Euler a" for euler_a); a name they have none for stays as it is.
std::string sampler_display_name(const std::string& scheduler);

}  // namespace websd
