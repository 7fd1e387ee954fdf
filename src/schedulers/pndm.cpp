// PNDMScheduler with skip_prk_steps: PLMS, the linear multistep sampler that Stable Diffusion 1.x/2.x
// checkpoints ship as their default. It combines up to four past noise predictions (Adams-Bashforth weights)
// and warms up with one Heun-like step that evaluates the second timestep twice.
#include <algorithm>
#include <cmath>

#include "schedulers/samplers.h"

namespace websd {
namespace {

const nlohmann::json kDefaults = {{"num_train_timesteps", 1000},
                                  {"beta_start", 0.0001},
                                  {"beta_end", 0.02},
                                  {"beta_schedule", "linear"},
                                  {"trained_betas", nullptr},
                                  {"skip_prk_steps", false},
                                  {"set_alpha_to_one", false},
                                  {"prediction_type", "epsilon"},
                                  {"timestep_spacing", "leading"},
                                  {"steps_offset", 0}};

class Pndm final : public SamplerBase {
 public:
  explicit Pndm(Config c) : SamplerBase("pndm", std::move(c)), train_(train_schedule(config_, false)) {
    // The Runge-Kutta warm-up (skip_prk_steps false) is not implemented.
    config_.require_one_of("skip_prk_steps", {true});
    prediction_ = prediction_type(config_, {Prediction::kEpsilon, Prediction::kVPrediction});
    spacing_ = timestep_spacing(config_);
    final_alpha_ = config_.get_bool("set_alpha_to_one", false) ? 1.0f : train_.alphas_cumprod[0];
  }

  void set_timesteps(int steps) override {
    check_steps(steps, train_.size());
    const std::vector<double> t =
        spaced_timesteps(spacing_, train_.size(), steps, config_.get_int("steps_offset", 0), true);
    // PLMS order: descending, with the second timestep run twice (its second run closes the warm-up step).
    timesteps_.assign(t.begin(), t.begin() + 1);
    if (t.size() > 1) timesteps_.push_back(t[1]);
    timesteps_.insert(timesteps_.end(), t.begin() + 1, t.end());
    check_timesteps_below(train_.size());
    ratio_ = train_.size() / steps;
    ets_.clear();
    warmup_sample_.clear();
    taken_ = 0;
  }

  double init_noise_sigma() const override { return 1.0; }
  double input_scale(int) const override { return 1.0; }
  void add_noise(std::span<float> x, std::span<const float> noise, int i) const override {
    add_noise_alpha(x, noise, train_.alphas_cumprod[size_t(timesteps_[size_t(i)])]);
  }

  void step(std::span<const float> out, int i, std::span<float> sample, TorchGenerator&) override {
    const size_t n = sample.size();
    int t = int(timesteps_[size_t(i)]), prev_t = t - ratio_;
    std::vector<float> eps(out.begin(), out.end());
    // The warm-up follows the steps taken, not the position in the schedule (img2img starts part-way).
    if (taken_ == 1) {
      // Second half of the warm-up: average both predictions and redo the first step from its start.
      prev_t = t;
      t += ratio_;
      for (size_t k = 0; k < n; ++k) eps[k] = (eps[k] + ets_.back()[k]) / 2.0f;
      std::copy(warmup_sample_.begin(), warmup_sample_.end(), sample.begin());
    } else {
      if (ets_.size() == 4) ets_.erase(ets_.begin());
      ets_.emplace_back(out.begin(), out.end());
      if (taken_ == 0) warmup_sample_.assign(sample.begin(), sample.end());
      combine(eps);
    }
    prev_sample(eps, t, prev_t, sample);
    ++taken_;
  }

 private:
  // Adams-Bashforth combination of the stored predictions (newest last).
  void combine(std::vector<float>& eps) const {
    const size_t n = eps.size(), m = ets_.size();
    auto e = [&](size_t back, size_t k) { return ets_[m - 1 - back][k]; };
    for (size_t k = 0; k < n; ++k) {
      if (m == 2)
        eps[k] = (3.0f * e(0, k) - e(1, k)) / 2.0f;
      else if (m == 3)
        eps[k] = (23.0f * e(0, k) - 16.0f * e(1, k) + 5.0f * e(2, k)) / 12.0f;
      else if (m == 4)
        eps[k] = float(1.0 / 24) * (55.0f * e(0, k) - 59.0f * e(1, k) + 37.0f * e(2, k) - 9.0f * e(3, k));
    }
  }

  // Formula (9) of the PNDM paper: x_{t-δ} from x_t and the combined noise prediction, in float32.
  void prev_sample(std::vector<float>& eps, int t, int prev_t, std::span<float> sample) const {
    const float a = train_.alphas_cumprod[size_t(t)];
    const float a_prev = prev_t >= 0 ? train_.alphas_cumprod[size_t(prev_t)] : final_alpha_;
    const float b = 1.0f - a, b_prev = 1.0f - a_prev;
    if (prediction_ == Prediction::kVPrediction)
      for (size_t k = 0; k < eps.size(); ++k) eps[k] = std::sqrt(a) * eps[k] + std::sqrt(b) * sample[k];
    const float sample_coeff = std::sqrt(a_prev / a);
    const float denom = a * std::sqrt(b_prev) + std::sqrt(a * b * a_prev);
    for (size_t k = 0; k < eps.size(); ++k)
      sample[k] = sample_coeff * sample[k] - (a_prev - a) * eps[k] / denom;
  }

  TrainSchedule train_;
  Prediction prediction_;
  std::string spacing_;
  float final_alpha_;
  int ratio_ = 0, taken_ = 0;
  std::vector<std::vector<float>> ets_;  // the last four raw noise predictions
  std::vector<float> warmup_sample_;
};

}  // namespace

const nlohmann::json& pndm_defaults() { return kDefaults; }

std::unique_ptr<Scheduler> make_pndm(const Config& model_config) {
  return std::make_unique<Pndm>(resolve_config(model_config, kDefaults));
}

}  // namespace websd
