// DDIMScheduler with eta = 0 (what the Stable Diffusion pipelines pass): deterministic implicit sampling that
// predicts x0, then moves it to the previous timestep along the predicted noise direction.
#include <algorithm>
#include <cmath>

#include "schedulers/samplers.h"

namespace websd {
namespace {

const nlohmann::json kDefaults = {
    {"num_train_timesteps", 1000},    {"beta_start", 0.0001},     {"beta_end", 0.02},
    {"beta_schedule", "linear"},      {"trained_betas", nullptr}, {"clip_sample", true},
    {"set_alpha_to_one", true},       {"steps_offset", 0},        {"prediction_type", "epsilon"},
    {"thresholding", false},          {"clip_sample_range", 1.0}, {"timestep_spacing", "leading"},
    {"rescale_betas_zero_snr", false}};

class Ddim final : public SamplerBase {
 public:
  explicit Ddim(Config c) : SamplerBase("ddim", std::move(c)), train_(train_schedule(config_, false)) {
    require_false(config_, "thresholding");  // dynamic thresholding is for pixel-space models
    prediction_ =
        prediction_type(config_, {Prediction::kEpsilon, Prediction::kVPrediction, Prediction::kSample});
    spacing_ = timestep_spacing(config_);
    final_alpha_ = config_.get_bool("set_alpha_to_one", true) ? 1.0f : train_.alphas_cumprod[0];
    clip_ = config_.get_bool("clip_sample", true);
    clip_range_ = float(config_.get_number("clip_sample_range", 1.0));
  }

  void set_timesteps(int steps) override {
    check_steps(steps, train_.size());
    timesteps_ = spaced_timesteps(spacing_, train_.size(), steps, config_.get_int("steps_offset", 0), true);
    check_timesteps_below(train_.size());
    ratio_ = train_.size() / steps;
  }

  double init_noise_sigma() const override { return 1.0; }
  double input_scale(int) const override { return 1.0; }
  void add_noise(std::span<float> x, std::span<const float> noise, int i) const override {
    add_noise_alpha(x, noise, train_.alphas_cumprod[size_t(timesteps_[size_t(i)])]);
  }

  void step(std::span<const float> out, int i, std::span<float> sample, TorchGenerator&) override {
    // diffusers steps back by train_steps / steps whatever the spacing.
    const int t = int(timesteps_[size_t(i)]), prev_t = t - ratio_;
    const float a = train_.alphas_cumprod[size_t(t)];
    const float a_prev = prev_t >= 0 ? train_.alphas_cumprod[size_t(prev_t)] : final_alpha_;
    const float sa = std::sqrt(a), sb = std::sqrt(1.0f - a);
    const float sa_prev = std::sqrt(a_prev), direction = std::sqrt(1.0f - a_prev);
    for (size_t k = 0; k < sample.size(); ++k) {
      const float x = sample[k], m = out[k];
      float x0, eps;
      if (prediction_ == Prediction::kEpsilon) {
        x0 = (x - sb * m) / sa;
        eps = m;
      } else if (prediction_ == Prediction::kVPrediction) {
        x0 = sa * x - sb * m;
        eps = sa * m + sb * x;
      } else {
        x0 = m;
        eps = (x - sa * x0) / sb;
      }
      if (clip_) x0 = std::clamp(x0, -clip_range_, clip_range_);
      sample[k] = sa_prev * x0 + direction * eps;
    }
  }

 private:
  TrainSchedule train_;
  Prediction prediction_;
  std::string spacing_;
  float final_alpha_;
  bool clip_;
  float clip_range_;
  int ratio_ = 0;
};

}  // namespace

const nlohmann::json& ddim_defaults() { return kDefaults; }

std::unique_ptr<Scheduler> make_ddim(const Config& model_config) {
  return std::make_unique<Ddim>(resolve_config(model_config, kDefaults));
}

}  // namespace websd
