// diffusers' image-to-image and inpainting reference runs (tiny-sd1/reference_extra img2img_*, tiny-inpaint), one
// table for the cpu tests (test_pipeline.cpp) and the webgpu parity checks (web/model_parity.cpp): where each run
// lives and how its arguments become websd's GenerateParams.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "io/safetensors.h"
#include "pipeline/stable_diffusion.h"

namespace websd::test {

struct ImageRun {
  const char* model;      // fixture folder
  const char* reference;  // reference file stem inside it
  const char* run;        // key of its "runs" (and prefix of its tensors)
  const char* scheduler;  // websd's name
  uint64_t seed;          // fixtures/README.md
};

inline constexpr ImageRun kImageRuns[] = {
    {"tiny-sd1", "reference_extra", "img2img_ddim_like_pndm", "pndm", 99},
    {"tiny-sd1", "reference_extra", "img2img_euler_a", "euler_a", 99},
    {"tiny-inpaint", "reference", "pndm", "pndm", 5},
    {"tiny-inpaint", "reference", "euler_a", "euler_a", 5},
};

// The run's diffusers arguments (its "args"): prompts, steps, guidance, strength, and the fixture's float init
// image (and mask, where the run has one: "mask_image").
inline GenerateParams image_run_params(const ImageRun& r, const nlohmann::json& args, const SafetensorsFile& tensors) {
  GenerateParams p;
  p.prompt = args["prompt"];
  p.negative_prompt = args["negative_prompt"];
  p.steps = args["num_inference_steps"];
  p.guidance = args["guidance_scale"];
  p.strength = args["strength"];
  p.seed = r.seed;
  p.scheduler = r.scheduler;
  const TensorView& init = tensors.get("init_image");
  p.init_image = {int(init.shape[1]), int(init.shape[0]), init.to_f32()};
  if (args.contains("mask_image")) p.mask = tensors.get("mask").to_f32();
  return p;
}

}  // namespace websd::test
