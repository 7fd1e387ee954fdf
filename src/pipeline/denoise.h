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

// Everything but the sample and the timestep that the UNet takes, for each batch entry: [uncond; cond] with
// classifier-free guidance, cond alone without.
struct UNetConditioning {
  std::vector<float> context;        // [B, tokens, cross_attention_dim]: the text features, 77 per prompt chunk
  std::vector<float> added;          // [B, projection_class_embeddings_input_dim] for text_time UNets (SDXL)
  std::vector<float> timestep_cond;  // [B, time_cond_proj_dim] for UNets with a guidance embedding (LCM)
  // [C_extra, h, w] appended to every batch entry's (scaled) sample along the channels: inpainting UNets take
  // the mask and the masked image's latents this way.
  std::vector<float> concat;
  // Per ControlNet of the graph (UNetGraph::control_images), in order: its control image for every batch entry
  // [B, 3, H, W], its conditioning scale, and the fractions of the iterations it acts on (diffusers'
  // control_guidance_start / end: iteration i of the n run when i / n >= start and (i + 1) / n <= end; its scale
  // is 0 on the others).
  struct Control {
    std::vector<float> image;
    float scale = 1.0f;
    double start = 0.0, end = 1.0;
  };
  std::vector<Control> controls;
};

// Inpainting with a regular (4-channel) UNet, as diffusers' StableDiffusionInpaintPipeline does for one: after each
// step the kept pixels' latents are replaced by the init image's, noised to the next iteration's level (clean after
// the last), so that only the masked region is painted.
struct KnownRegion {
  std::vector<float> image;  // [C, h, w]: the init image's latents (sampled, scaled)
  std::vector<float> noise;  // [C, h, w]: the noise they are noised with (the run's initial noise)
  std::vector<float> mask;   // [h, w]: 1 = repaint, 0 = keep
};

// Runs the iterations of `s` (set_timesteps already called) from `first` on (0 for txt2img; img2img starts
// part-way, on latents that add_noise made) on `latents` [1, C, h, w], in place.
// With guidance > 1 (classifier-free guidance) `net` has batch 2 and `cond` holds [uncond; cond]; the
// prediction is uncond + guidance * (cond - uncond). Otherwise `net` has batch 1 and `cond` the conditional
// entry alone. `gen` supplies the noise of stochastic samplers (after the initial latents). `on_step(i,
// latents)` runs after each iteration (after `known`'s blend); returning false throws Error(kCancelled).
void denoise(Executable& unet, const UNetGraph& net, const UNetConfig& cfg, Scheduler& s,
             std::vector<float>& latents, const UNetConditioning& cond, float guidance, TorchGenerator& gen,
             const std::function<bool(int iteration, const std::vector<float>& latents)>& on_step, int first = 0,
             const KnownRegion* known = nullptr);

}  // namespace websd
