// EulerDiscreteScheduler (k-diffusion's Euler method in sigma space), plain or with Karras sigmas
// (euler_karras: use_karras_sigmas, whose timesteps are fractional, found back from the sigmas in log-sigma
// space).
#include <algorithm>
#include <cmath>

#include "schedulers/samplers.h"

namespace websd {
namespace {

const nlohmann::json kDefaults = {
    {"num_train_timesteps", 1000},     {"beta_start", 0.0001},        {"beta_end", 0.02},
    {"beta_schedule", "linear"},       {"trained_betas", nullptr},    {"prediction_type", "epsilon"},
    {"interpolation_type", "linear"},  {"use_karras_sigmas", false},  {"use_exponential_sigmas", false},
    {"use_beta_sigmas", false},        {"sigma_min", nullptr},        {"sigma_max", nullptr},
    {"timestep_spacing", "linspace"},  {"timestep_type", "discrete"}, {"steps_offset", 0},
    {"rescale_betas_zero_snr", false}, {"final_sigmas_type", "zero"}};

class Euler final : public SamplerBase {
 public:
  Euler(std::string name, Config c)
      : SamplerBase(std::move(name), std::move(c)), train_(train_schedule(config_, true)) {
    prediction_ =
        prediction_type(config_, {Prediction::kEpsilon, Prediction::kVPrediction, Prediction::kSample});
    config_.require_one_of("interpolation_type", {"linear"});
    config_.require_one_of("timestep_type", {"discrete"});
    config_.require_one_of("final_sigmas_type", {"zero", "sigma_min"});
    require_false(config_, "use_exponential_sigmas");
    require_false(config_, "use_beta_sigmas");
    spacing_ = timestep_spacing(config_);
  }

  void set_timesteps(int steps) override {
    check_steps(steps, train_.size());
    timesteps_ = spaced_timesteps(spacing_, train_.size(), steps, config_.get_int("steps_offset", 0), false);
    const std::vector<double> sig = interpolated_sigmas(config_, train_, timesteps_);
    sigmas_.assign(sig.begin(), sig.end());
    const bool zero = config_.get_string("final_sigmas_type", "zero") == "zero";
    sigmas_.push_back(zero ? 0.0f : train_.sigmas().front());
  }

  double init_noise_sigma() const override {
    return sigma_init_noise(*std::max_element(sigmas_.begin(), sigmas_.end()), spacing_);
  }
  double input_scale(int i) const override { return sigma_input_scale(sigmas_[size_t(i)]); }
  void add_noise(std::span<float> x, std::span<const float> noise, int i) const override {
    add_noise_sigma(x, noise, sigmas_[size_t(i)]);
  }

  void step(std::span<const float> out, int i, std::span<float> sample, TorchGenerator&) override {
    const float sigma = sigmas_[size_t(i)], dt = sigmas_[size_t(i) + 1] - sigma;
    for (size_t k = 0; k < sample.size(); ++k) {
      const float x = sample[k];
      const float derivative = (x - sigma_x0(prediction_, sigma, x, out[k])) / sigma;
      sample[k] = x + derivative * dt;
    }
  }

 private:
  TrainSchedule train_;
  Prediction prediction_;
  std::string spacing_;
  std::vector<float> sigmas_;  // one per iteration plus the final sigma
};

}  // namespace

const nlohmann::json& euler_defaults() { return kDefaults; }

std::unique_ptr<Scheduler> make_euler(const Config& model_config, bool karras) {
  if (!karras) return std::make_unique<Euler>("euler", resolve_config(model_config, kDefaults));
  return std::make_unique<Euler>("euler_karras",
                                 resolve_config(model_config, kDefaults, {{"use_karras_sigmas", true}}));
}

}  // namespace websd
