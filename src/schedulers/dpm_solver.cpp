// DPMSolverMultistepScheduler with algorithm_type dpmsolver++ (dpmpp_2m, and dpmpp_2m_karras with
// use_karras_sigmas): a multistep exponential integrator on the model's x0 predictions in half-log-SNR time,
// first order to start (and to finish with lower_order_final / a zero final sigma), second order in between.
#include <algorithm>
#include <cmath>
#include <limits>

#include "schedulers/samplers.h"

namespace websd {
namespace {

const nlohmann::json kDefaults = {{"num_train_timesteps", 1000},
                                  {"beta_start", 0.0001},
                                  {"beta_end", 0.02},
                                  {"beta_schedule", "linear"},
                                  {"trained_betas", nullptr},
                                  {"solver_order", 2},
                                  {"prediction_type", "epsilon"},
                                  {"thresholding", false},
                                  {"algorithm_type", "dpmsolver++"},
                                  {"solver_type", "midpoint"},
                                  {"lower_order_final", true},
                                  {"euler_at_final", false},
                                  {"use_karras_sigmas", false},
                                  {"use_exponential_sigmas", false},
                                  {"use_beta_sigmas", false},
                                  {"use_lu_lambdas", false},
                                  {"use_flow_sigmas", false},
                                  {"final_sigmas_type", "zero"},
                                  {"lambda_min_clipped", "-Infinity"},
                                  {"variance_type", nullptr},
                                  {"timestep_spacing", "linspace"},
                                  {"steps_offset", 0},
                                  {"rescale_betas_zero_snr", false},
                                  {"use_dynamic_shifting", false}};

class DpmSolver final : public SamplerBase {
 public:
  DpmSolver(std::string name, Config c)
      : SamplerBase(std::move(name), std::move(c)), train_(train_schedule(config_, true)) {
    // diffusers maps UniPC's and DEIS's solver types onto midpoint when a config moves between them.
    const std::string solver = config_.get_string("solver_type", "midpoint");
    if (solver == "logrho" || solver == "bh1" || solver == "bh2")
      config_ = with_value(config_, "solver_type", "midpoint");
    config_.require_one_of("solver_type", {"midpoint", "heun"});
    config_.require_one_of("algorithm_type", {"dpmsolver++"});
    config_.require_one_of("solver_order", {1, 2});
    config_.require_one_of("variance_type", {});
    for (const char* key : {"thresholding", "use_exponential_sigmas", "use_beta_sigmas", "use_lu_lambdas",
                            "use_flow_sigmas", "use_dynamic_shifting"})
      require_false(config_, key);
    prediction_ =
        prediction_type(config_, {Prediction::kEpsilon, Prediction::kVPrediction, Prediction::kSample});
    spacing_ = timestep_spacing(config_);
    order_ = config_.get_int("solver_order", 2);
    heun_ = config_.get_string("solver_type", "midpoint") == "heun";
  }

  void set_timesteps(int steps) override {
    check_steps(steps, train_.size());
    // Timesteps whose lambda lies below lambda_min_clipped are cut off the top of the schedule.
    const double min_lambda =
        config_.get_number("lambda_min_clipped", -std::numeric_limits<double>::infinity());
    int clipped = 0;
    for (float a : train_.alphas_cumprod)
      clipped += double(std::log(std::sqrt(a)) - std::log(std::sqrt(1.0f - a))) < min_lambda;
    timesteps_ = multistep_timesteps(spacing_, train_.size() - clipped, train_.size(), steps,
                                     config_.get_int("steps_offset", 0));
    sigmas_ = multistep_sigmas(config_, train_, timesteps_);
    x0_.clear();
  }

  double init_noise_sigma() const override { return 1.0; }
  double input_scale(int) const override { return 1.0; }
  void add_noise(std::span<float> x, std::span<const float> noise, int i) const override {
    add_noise_alpha_sigma(x, noise, sigmas_[size_t(i)]);
  }

  void step(std::span<const float> out, int i, std::span<float> sample, TorchGenerator&) override {
    const int n = iterations();
    const bool final_first_order = i == n - 1 && (config_.get_bool("euler_at_final", false) ||
                                                  (config_.get_bool("lower_order_final", true) && n < 15) ||
                                                  config_.get_string("final_sigmas_type", "zero") == "zero");
    const AlphaSigma s0 = alpha_sigma(sigmas_[size_t(i)]), t = alpha_sigma(sigmas_[size_t(i) + 1]);
    std::vector<float> x0(sample.size());
    for (size_t k = 0; k < x0.size(); ++k) {
      if (prediction_ == Prediction::kEpsilon)
        x0[k] = (sample[k] - s0.sigma * out[k]) / s0.alpha;
      else if (prediction_ == Prediction::kVPrediction)
        x0[k] = s0.alpha * sample[k] - s0.sigma * out[k];
      else
        x0[k] = out[k];
    }
    const bool second = order_ == 2 && !x0_.empty() && !final_first_order;
    const float h = t.lambda - s0.lambda;
    const float ratio = t.sigma / s0.sigma, c0 = t.alpha * (std::exp(-h) - 1.0f);
    if (!second) {
      for (size_t k = 0; k < x0.size(); ++k) sample[k] = ratio * sample[k] - c0 * x0[k];
    } else {
      const AlphaSigma s1 = alpha_sigma(sigmas_[size_t(i) - 1]);
      const float r0 = (s0.lambda - s1.lambda) / h, inv_r0 = 1.0f / r0;
      // Midpoint: D1 enters with -0.5 * c0; Heun: with alpha_t * ((exp(-h) - 1) / h + 1).
      const float c1 = heun_ ? -(t.alpha * ((std::exp(-h) - 1.0f) / h + 1.0f)) : 0.5f * c0;
      for (size_t k = 0; k < x0.size(); ++k) {
        const float d1 = inv_r0 * (x0[k] - x0_[k]);
        sample[k] = ratio * sample[k] - c0 * x0[k] - c1 * d1;
      }
    }
    x0_ = std::move(x0);
  }

 private:
  TrainSchedule train_;
  Prediction prediction_;
  std::string spacing_;
  int order_;
  bool heun_;
  std::vector<float> sigmas_;  // one per iteration plus the final sigma
  std::vector<float> x0_;      // the previous iteration's x0 prediction
};

}  // namespace

const nlohmann::json& dpm_solver_defaults() { return kDefaults; }

std::unique_ptr<Scheduler> make_dpm_solver(const Config& model_config, bool karras) {
  if (!karras) return std::make_unique<DpmSolver>("dpmpp_2m", resolve_config(model_config, kDefaults));
  return std::make_unique<DpmSolver>("dpmpp_2m_karras",
                                     resolve_config(model_config, kDefaults, {{"use_karras_sigmas", true}}));
}

}  // namespace websd
