// LCMScheduler (latent consistency models): every step maps the sample straight to a denoised estimate
// through the consistency boundary scalings, then re-noises it to the next timestep with fresh noise from the
// pipeline's generator (except after the last step). Timesteps are picked from the distillation schedule of
// original_inference_steps; timestep_spacing and steps_offset play no part.
#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "schedulers/samplers.h"

namespace websd {
namespace {

const nlohmann::json kDefaults = {{"num_train_timesteps", 1000},
                                  {"beta_start", 0.00085},
                                  {"beta_end", 0.012},
                                  {"beta_schedule", "scaled_linear"},
                                  {"trained_betas", nullptr},
                                  {"original_inference_steps", 50},
                                  {"clip_sample", false},
                                  {"clip_sample_range", 1.0},
                                  {"set_alpha_to_one", true},
                                  {"prediction_type", "epsilon"},
                                  {"thresholding", false},
                                  {"timestep_scaling", 10.0},
                                  {"rescale_betas_zero_snr", false}};

class Lcm final : public SamplerBase {
 public:
  explicit Lcm(Config c) : SamplerBase("lcm", std::move(c)), train_(train_schedule(config_, false)) {
    require_false(config_, "thresholding");
    prediction_ =
        prediction_type(config_, {Prediction::kEpsilon, Prediction::kVPrediction, Prediction::kSample});
    final_alpha_ = config_.get_bool("set_alpha_to_one", true) ? 1.0f : train_.alphas_cumprod[0];
    clip_ = config_.get_bool("clip_sample", false);
    clip_range_ = float(config_.get_number("clip_sample_range", 1.0));
    scaling_ = float(config_.get_number("timestep_scaling", 10.0));
    original_steps_ = config_.get_int("original_inference_steps", 50);
    if (original_steps_ < 1 || original_steps_ > train_.size())
      config_.invalid("original_inference_steps", "must be between 1 and num_train_timesteps");
  }

  void set_timesteps(int steps) override {
    check_steps(steps, train_.size());
    if (steps > original_steps_)
      throw Error(ErrorCode::kInvalidArgument, "lcm: at most original_inference_steps (" +
                                                   std::to_string(original_steps_) + ") steps, got " +
                                                   std::to_string(steps));
    // The distillation schedule, descending: k*original_steps - 1, ..., 2k - 1, k - 1 with k = train /
    // original.
    const int k = train_.size() / original_steps_;
    timesteps_.clear();
    for (double idx : np_linspace(0, original_steps_, steps, false))
      timesteps_.push_back(double((original_steps_ - int(std::floor(idx))) * k - 1));
  }

  double init_noise_sigma() const override { return 1.0; }
  double input_scale(int) const override { return 1.0; }
  void add_noise(std::span<float> x, std::span<const float> noise, int i) const override {
    add_noise_alpha(x, noise, train_.alphas_cumprod[size_t(timesteps_[size_t(i)])]);
  }

  void step(std::span<const float> out, int i, std::span<float> sample, TorchGenerator& gen) override {
    const bool last = i + 1 == iterations();
    const int t = int(timesteps_[size_t(i)]), prev_t = last ? t : int(timesteps_[size_t(i) + 1]);
    const float a = train_.alphas_cumprod[size_t(t)];
    const float a_prev = prev_t >= 0 ? train_.alphas_cumprod[size_t(prev_t)] : final_alpha_;
    const float sa = std::sqrt(a), sb = std::sqrt(1.0f - a);
    // Consistency-model boundary conditions with sigma_data = 0.5.
    const float scaled = float(t) * scaling_;
    const float c_skip = 0.25f / (scaled * scaled + 0.25f),
                c_out = scaled / std::sqrt(scaled * scaled + 0.25f);
    std::vector<float> noise;
    if (!last) noise = gen.randn(sample.size());
    const float sa_prev = std::sqrt(a_prev), sb_prev = std::sqrt(1.0f - a_prev);
    for (size_t e = 0; e < sample.size(); ++e) {
      const float x = sample[e], m = out[e];
      float x0 = prediction_ == Prediction::kEpsilon       ? (x - sb * m) / sa
                 : prediction_ == Prediction::kVPrediction ? sa * x - sb * m
                                                           : m;
      if (clip_) x0 = std::clamp(x0, -clip_range_, clip_range_);
      const float denoised = c_out * x0 + c_skip * x;
      sample[e] = last ? denoised : sa_prev * denoised + sb_prev * noise[e];
    }
  }

 private:
  TrainSchedule train_;
  Prediction prediction_;
  float final_alpha_;
  bool clip_;
  float clip_range_, scaling_;
  int original_steps_;
};

}  // namespace

const nlohmann::json& lcm_defaults() { return kDefaults; }

std::unique_ptr<Scheduler> make_lcm(const Config& model_config) {
  return std::make_unique<Lcm>(resolve_config(model_config, kDefaults));
}

}  // namespace websd
