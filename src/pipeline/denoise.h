// The sampling loop shared by the txt2img and img2img pipelines, as diffusers' StableDiffusionPipeline runs
// it: per iteration one UNet call (both guidance halves in one batch), classifier-free guidance, one
// scheduler step.
#pragma once

#include <functional>
#include <vector>

#include "backends/backend.h"
#include "models/unet.h"
#include "sampling/torch_rng.h"
#include "schedulers/scheduler.h"

namespace websd {

// Runs every iteration of `s` (set_timesteps already called) on `latents` [1, C, h, w], in place.
// With guidance > 1 (classifier-free guidance) `net` has batch 2 and `context` is [2, 77, D] = [uncond;
// cond]; the prediction is uncond + guidance * (cond - uncond). Otherwise `net` has batch 1 and `context` is
// the conditional [1, 77, D] alone. `gen` supplies the noise of stochastic samplers (after the initial
// latents). `on_step(i, latents)` runs after each iteration; returning false throws Error(kCancelled).
void denoise(Executable& unet, const UNetGraph& net, const UNetConfig& cfg, Scheduler& s,
             std::vector<float>& latents, const std::vector<float>& context, float guidance,
             TorchGenerator& gen,
             const std::function<bool(int iteration, const std::vector<float>& latents)>& on_step);

}  // namespace websd
