// HeunDiscreteScheduler: Heun's second-order method in sigma space. Every step but the last evaluates the
// model twice (an Euler predictor, then a corrector that averages both slopes), so `steps` steps take 2*steps
// - 1 iterations; the schedule lists each inner sigma and timestep twice.
#include <algorithm>
#include <cmath>

#include "schedulers/samplers.h"

namespace websd {
namespace {

const nlohmann::json kDefaults = {{"num_train_timesteps", 1000},
                                  {"beta_start", 0.00085},
                                  {"beta_end", 0.012},
                                  {"beta_schedule", "linear"},
                                  {"trained_betas", nullptr},
                                  {"prediction_type", "epsilon"},
                                  {"use_karras_sigmas", false},
                                  {"use_exponential_sigmas", false},
                                  {"use_beta_sigmas", false},
                                  {"clip_sample", false},
                                  {"clip_sample_range", 1.0},
                                  {"timestep_spacing", "linspace"},
                                  {"steps_offset", 0}};

class Heun final : public SamplerBase {
 public:
  explicit Heun(Config c) : SamplerBase("heun", std::move(c)), train_(train_schedule(config_, false)) {
    prediction_ =
        prediction_type(config_, {Prediction::kEpsilon, Prediction::kVPrediction, Prediction::kSample});
    require_false(config_, "use_exponential_sigmas");
    require_false(config_, "use_beta_sigmas");
    spacing_ = timestep_spacing(config_);
    clip_ = config_.get_bool("clip_sample", false);
    clip_range_ = float(config_.get_number("clip_sample_range", 1.0));
  }

  void set_timesteps(int steps) override {
    check_steps(steps, train_.size());
    std::vector<double> t =
        spaced_timesteps(spacing_, train_.size(), steps, config_.get_int("steps_offset", 0), false);
    const std::vector<double> sig = interpolated_sigmas(config_, train_, t);
    timesteps_.assign(1, t[0]);
    sigmas_.assign(1, float(sig[0]));
    for (size_t i = 1; i < t.size(); ++i) {
      timesteps_.insert(timesteps_.end(), 2, t[i]);
      sigmas_.insert(sigmas_.end(), 2, float(sig[i]));
    }
    sigmas_.push_back(0.0f);
    first_order_ = true;
  }

  double init_noise_sigma() const override {
    return sigma_init_noise(*std::max_element(sigmas_.begin(), sigmas_.end()), spacing_);
  }
  double input_scale(int i) const override { return sigma_input_scale(sigmas_[size_t(i)]); }
  void add_noise(std::span<float> x, std::span<const float> noise, int i) const override {
    add_noise_sigma(x, noise, sigmas_[size_t(i)]);
  }
  int order() const override { return 2; }

  void step(std::span<const float> out, int i, std::span<float> sample, TorchGenerator&) override {
    // The predictor runs from sigmas_[i] to sigmas_[i + 1]; the corrector re-evaluates at its end point.
    const float sigma = sigmas_[size_t(first_order_ ? i : i - 1)];
    const float next = sigmas_[size_t(first_order_ ? i + 1 : i)];
    const float at = first_order_ ? sigma : next;
    if (first_order_) {
      dt_ = next - sigma;
      derivative_.resize(sample.size());
      start_.assign(sample.begin(), sample.end());
    }
    for (size_t k = 0; k < sample.size(); ++k) {
      float x0 = sigma_x0(prediction_, at, sample[k], out[k]);
      if (clip_) x0 = std::clamp(x0, -clip_range_, clip_range_);
      const float d = (sample[k] - x0) / at;
      if (first_order_) {
        derivative_[k] = d;
        sample[k] = sample[k] + d * dt_;
      } else {
        sample[k] = start_[k] + ((derivative_[k] + d) / 2.0f) * dt_;
      }
    }
    first_order_ = !first_order_;
  }

 private:
  TrainSchedule train_;
  Prediction prediction_;
  std::string spacing_;
  bool clip_;
  float clip_range_;
  std::vector<float> sigmas_;  // one per iteration plus the final 0
  bool first_order_ = true;
  float dt_ = 0;
  std::vector<float> derivative_, start_;  // the predictor's slope and starting sample
};

}  // namespace

const nlohmann::json& heun_defaults() { return kDefaults; }

std::unique_ptr<Scheduler> make_heun(const Config& model_config) {
  return std::make_unique<Heun>(resolve_config(model_config, kDefaults));
}

}  // namespace websd
