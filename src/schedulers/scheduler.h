// Samplers with diffusers semantics. A scheduler is configured from the model's scheduler_config.json (as
// diffusers' SchedulerClass.from_config does) and chosen by the CLI name; the pipeline drives it:
//
//   s->set_timesteps(steps);
//   latents = randn(seed) * s->init_noise_sigma();
//   for (int i = 0; i < s->iterations(); ++i) {
//     x_in = latents * s->input_scale(i);              // scale_model_input
//     eps  = unet(x_in, s->timesteps()[i], ...);       // guided model output
//     s->step(eps, i, latents, generator);              // latents updated in place
//   }
//
// img2img starts at iteration k instead: latents = s->add_noise(encoded, randn, k), then the loop from k.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "io/config.h"
#include "sampling/torch_rng.h"

namespace websd {

class Scheduler {
 public:
  virtual ~Scheduler() = default;
  virtual std::string name() const = 0;  // the CLI name: pndm, ddim, euler, ...
  // The effective configuration (diffusers' scheduler.config after from_config), limited to the keys this
  // sampler reads; errors about it name the model's scheduler config file.
  virtual const Config& config() const = 0;

  // Prepares `steps` inference steps (Error(kInvalidArgument) if steps < 1 or unsupported for this sampler).
  virtual void set_timesteps(int steps) = 0;
  // The UNet timestep of every loop iteration; heun and pndm run more iterations than steps.
  virtual const std::vector<double>& timesteps() const = 0;
  int iterations() const { return int(timesteps().size()); }

  virtual double init_noise_sigma() const = 0;
  // Factor applied to the latents before the UNet call of iteration i (diffusers' scale_model_input).
  virtual double input_scale(int i) const = 0;
  // One loop iteration: sample <- f(model_output, sample). Stochastic samplers draw noise from `gen`
  // (after the initial latents, as diffusers does with the pipeline's generator). `i` indexes timesteps();
  // multistep state counts the steps taken since set_timesteps, so a run may start part-way through the
  // schedule (img2img), as diffusers' set_begin_index allows.
  virtual void step(std::span<const float> model_output, int i, std::span<float> sample,
                    TorchGenerator& gen) = 0;

  // diffusers' add_noise at iteration i (img2img: the clean latents noised to where the run starts):
  // sample <- mix(sample, noise) at timesteps()[i]'s noise level, in place.
  virtual void add_noise(std::span<float> sample, std::span<const float> noise, int i) const = 0;
  // Iterations per inference step (diffusers' scheduler.order): 2 for heun, 1 otherwise. img2img starts at
  // iteration (steps - int(steps * strength)) * order().
  virtual int order() const { return 1; }
};

// The CLI names, in the order `--help` lists them.
const std::vector<std::string>& scheduler_names();

// The CLI name of a diffusers scheduler class ("PNDMScheduler" -> "pndm"); "" if websd has no such sampler.
std::string scheduler_name_for_class(const std::string& class_name);

// `name` is one of scheduler_names(); `model_config` is the pipeline's scheduler/scheduler_config.json.
// `overrides` (a JSON object) are config values that win over the model's, as in diffusers'
// SchedulerClass.from_config(config, **overrides) — e.g. {"timestep_spacing": "trailing"} for SD-Turbo.
// Error(kInvalidArgument) names the valid choices for an unknown name or an override key the sampler does not
// read; Error(kUnsupported) for configs the sampler does not implement (e.g. an unknown beta_schedule).
std::unique_ptr<Scheduler> make_scheduler(const std::string& name, const Config& model_config,
                                          const nlohmann::json& overrides = nlohmann::json::object());

}  // namespace websd
