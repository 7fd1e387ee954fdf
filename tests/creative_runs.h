// diffusers' creative-feature runs on tiny-sd1 (fixtures README, tiny-sd1-creative/reference.json "runs"): a run's
// arguments as GenerateParams, shared by the LoRA and textual inversion tables (lora_runs.h, embedding_runs.h).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>

#include "pipeline/stable_diffusion.h"

namespace websd::test {

// The run's prompts, size, steps and guidance, with `seed` and websd's `scheduler` under the timestep spacing
// diffusers kept from the model's config ("leading": from_config on a fresh pipeline would take the sampler's own).
inline GenerateParams creative_run_params(const nlohmann::json& run, uint64_t seed, const char* scheduler) {
  const nlohmann::json& args = run["args"];
  GenerateParams p;
  p.scheduler_overrides = {{"timestep_spacing", run["scheduler"]["timestep_spacing"]}};
  p.prompt = args["prompt"];
  p.negative_prompt = args["negative_prompt"];
  p.width = args["width"];
  p.height = args["height"];
  p.steps = args["num_inference_steps"];
  p.guidance = args["guidance_scale"];
  p.seed = seed;
  p.scheduler = scheduler;
  return p;
}

}  // namespace websd::test
