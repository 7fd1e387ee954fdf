// EulerAncestralDiscreteScheduler (euler_a): each step goes down to sigma_down with Euler's method, then adds
// fresh noise of size sigma_up drawn from the pipeline's generator, so that the marginal lands on the next
// sigma.
#include <algorithm>
#include <cmath>

#include "schedulers/samplers.h"

namespace websd {
namespace {

const nlohmann::json kDefaults = {
    {"num_train_timesteps", 1000},    {"beta_start", 0.0001},     {"beta_end", 0.02},
    {"beta_schedule", "linear"},      {"trained_betas", nullptr}, {"prediction_type", "epsilon"},
    {"timestep_spacing", "linspace"}, {"steps_offset", 0},        {"rescale_betas_zero_snr", false}};

class EulerAncestral final : public SamplerBase {
 public:
  explicit EulerAncestral(Config c)
      : SamplerBase("euler_a", std::move(c)), train_(train_schedule(config_, true)) {
    prediction_ = prediction_type(config_, {Prediction::kEpsilon, Prediction::kVPrediction});
    spacing_ = timestep_spacing(config_);
  }

  void set_timesteps(int steps) override {
    check_steps(steps, train_.size());
    timesteps_ = spaced_timesteps(spacing_, train_.size(), steps, config_.get_int("steps_offset", 0), false);
    const std::vector<double> sig = interpolated_sigmas(config_, train_, timesteps_);
    sigmas_.assign(sig.begin(), sig.end());
    sigmas_.push_back(0.0f);
  }

  double init_noise_sigma() const override {
    return sigma_init_noise(*std::max_element(sigmas_.begin(), sigmas_.end()), spacing_);
  }
  double input_scale(int i) const override { return sigma_input_scale(sigmas_[size_t(i)]); }
  void add_noise(std::span<float> x, std::span<const float> noise, int i) const override {
    add_noise_sigma(x, noise, sigmas_[size_t(i)]);
  }

  void step(std::span<const float> out, int i, std::span<float> sample, TorchGenerator& gen) override {
    const float from = sigmas_[size_t(i)], to = sigmas_[size_t(i) + 1];
    const float up = std::sqrt(to * to * (from * from - to * to) / (from * from));
    const float down = std::sqrt(to * to - up * up);
    const float dt = down - from;
    // Noise is drawn on every step, the last (sigma_up = 0) included, as diffusers does.
    const std::vector<float> noise = gen.randn(sample.size());
    for (size_t k = 0; k < sample.size(); ++k) {
      const float x = sample[k];
      const float derivative = (x - sigma_x0(prediction_, from, x, out[k])) / from;
      sample[k] = (x + derivative * dt) + noise[k] * up;
    }
  }

 private:
  TrainSchedule train_;
  Prediction prediction_;
  std::string spacing_;
  std::vector<float> sigmas_;  // one per iteration plus the final 0
};

}  // namespace

const nlohmann::json& euler_ancestral_defaults() { return kDefaults; }

std::unique_ptr<Scheduler> make_euler_ancestral(const Config& model_config) {
  return std::make_unique<EulerAncestral>(resolve_config(model_config, kDefaults));
}

}  // namespace websd
