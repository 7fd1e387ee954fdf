// UniPCMultistepScheduler with predict_x0 (UniPC, Zhao et al. 2023): each iteration first corrects the
// previous step with the new x0 prediction (UniC), then predicts the next sample from the stored predictions
// (UniP), with B(h) = expm1(h) (bh2) or h (bh1). Orders warm up from 1 and drop back at the end
// (lower_order_final).
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
                                  {"solver_order", 2},
                                  {"prediction_type", "epsilon"},
                                  {"thresholding", false},
                                  {"predict_x0", true},
                                  {"solver_type", "bh2"},
                                  {"lower_order_final", true},
                                  {"disable_corrector", nlohmann::json::array()},
                                  {"solver_p", nullptr},
                                  {"use_karras_sigmas", false},
                                  {"use_exponential_sigmas", false},
                                  {"use_beta_sigmas", false},
                                  {"use_flow_sigmas", false},
                                  {"timestep_spacing", "linspace"},
                                  {"steps_offset", 0},
                                  {"final_sigmas_type", "zero"},
                                  {"rescale_betas_zero_snr", false},
                                  {"use_dynamic_shifting", false},
                                  {"sigma_min", nullptr},
                                  {"sigma_max", nullptr}};

// Solves A x = b (n <= solver_order) by Gaussian elimination with partial pivoting, in float32 as torch does.
std::vector<float> solve(std::vector<std::vector<float>> a, std::vector<float> b) {
  const size_t n = b.size();
  for (size_t c = 0; c < n; ++c) {
    size_t p = c;
    for (size_t r = c + 1; r < n; ++r)
      if (std::fabs(a[r][c]) > std::fabs(a[p][c])) p = r;
    std::swap(a[c], a[p]);
    std::swap(b[c], b[p]);
    for (size_t r = c + 1; r < n; ++r) {
      const float f = a[r][c] / a[c][c];
      for (size_t k = c; k < n; ++k) a[r][k] -= f * a[c][k];
      b[r] -= f * b[c];
    }
  }
  std::vector<float> x(n);
  for (size_t r = n; r-- > 0;) {
    float s = b[r];
    for (size_t k = r + 1; k < n; ++k) s -= a[r][k] * x[k];
    x[r] = s / a[r][r];
  }
  return x;
}

class UniPc final : public SamplerBase {
 public:
  explicit UniPc(Config c) : SamplerBase("unipc", std::move(c)), train_(train_schedule(config_, true)) {
    // diffusers maps DPM-Solver's and DEIS's solver types onto bh2 when a config moves between them.
    const std::string solver = config_.get_string("solver_type", "bh2");
    if (solver == "midpoint" || solver == "heun" || solver == "logrho")
      config_ = with_value(config_, "solver_type", "bh2");
    config_.require_one_of("solver_type", {"bh1", "bh2"});
    config_.require_one_of("predict_x0", {true});
    config_.require_one_of("solver_p", {});
    for (const char* key : {"thresholding", "use_exponential_sigmas", "use_beta_sigmas", "use_flow_sigmas",
                            "use_dynamic_shifting"})
      require_false(config_, key);
    prediction_ =
        prediction_type(config_, {Prediction::kEpsilon, Prediction::kVPrediction, Prediction::kSample});
    spacing_ = timestep_spacing(config_);
    order_ = config_.get_int("solver_order", 2);
    if (order_ < 1) config_.invalid("solver_order", "must be at least 1");
    bh1_ = config_.get_string("solver_type", "bh2") == "bh1";
    if (config_.has("disable_corrector")) disable_corrector_ = config_.get_ints("disable_corrector");
  }

  void set_timesteps(int steps) override {
    check_steps(steps, train_.size());
    timesteps_ = multistep_timesteps(spacing_, train_.size(), train_.size(), steps,
                                     config_.get_int("steps_offset", 0));
    sigmas_ = multistep_sigmas(config_, train_, timesteps_);
    x0s_.clear();
    last_sample_.clear();
    done_orders_ = 0;
  }

  double init_noise_sigma() const override { return 1.0; }
  double input_scale(int) const override { return 1.0; }
  void add_noise(std::span<float> x, std::span<const float> noise, int i) const override {
    add_noise_alpha_sigma(x, noise, sigmas_[size_t(i)]);
  }

  void step(std::span<const float> out, int i, std::span<float> sample, TorchGenerator&) override {
    const AlphaSigma now = alpha_sigma(sigmas_[size_t(i)]);
    std::vector<float> x0(sample.size());
    for (size_t k = 0; k < x0.size(); ++k) {
      if (prediction_ == Prediction::kEpsilon)
        x0[k] = (sample[k] - now.sigma * out[k]) / now.alpha;
      else if (prediction_ == Prediction::kVPrediction)
        x0[k] = now.alpha * sample[k] - now.sigma * out[k];
      else
        x0[k] = out[k];
    }
    const bool corrector =
        i > 0 && !last_sample_.empty() &&
        std::find(disable_corrector_.begin(), disable_corrector_.end(), i - 1) == disable_corrector_.end();
    if (corrector) update(i - 1, order_used_, last_sample_, &x0, sample);

    x0s_.push_back(std::move(x0));
    if (int(x0s_.size()) > order_) x0s_.erase(x0s_.begin());
    const int remaining = iterations() - i;
    order_used_ = std::min(config_.get_bool("lower_order_final", true) ? std::min(order_, remaining) : order_,
                           done_orders_ + 1);
    last_sample_.assign(sample.begin(), sample.end());
    update(i, order_used_, last_sample_, nullptr, sample);
    done_orders_ = std::min(done_orders_ + 1, order_);
  }

 private:
  // One UniP step (model_t null) from sigmas_[s] to sigmas_[s + 1], or the UniC correction of that step with
  // the model's new x0 prediction model_t (not yet stored). x0s_.back() is the prediction at sigmas_[s].
  void update(int s, int order, const std::vector<float>& x, const std::vector<float>* model_t,
              std::span<float> result) const {
    const AlphaSigma s0 = alpha_sigma(sigmas_[size_t(s)]), t = alpha_sigma(sigmas_[size_t(s) + 1]);
    const float h = t.lambda - s0.lambda;
    const std::vector<float>& m0 = x0s_.back();
    // Finite differences towards the older predictions, at relative log-SNR distances rks.
    std::vector<float> rks;
    std::vector<const std::vector<float>*> older;
    for (int k = 1; k < order; ++k) {
      rks.push_back((alpha_sigma(sigmas_[size_t(s - k)]).lambda - s0.lambda) / h);
      older.push_back(&x0s_[x0s_.size() - 1 - size_t(k)]);
    }
    rks.push_back(1.0f);

    const float hh = -h, h_phi_1 = std::expm1(hh), b_h = bh1_ ? hh : std::expm1(hh);
    float h_phi_k = h_phi_1 / hh - 1.0f;
    int factorial = 1;
    std::vector<std::vector<float>> r;
    std::vector<float> b;
    for (int k = 1; k <= order; ++k) {
      std::vector<float> row;
      for (float rk : rks) row.push_back(k == 1 ? 1.0f : k == 2 ? rk : std::pow(rk, float(k - 1)));
      r.push_back(std::move(row));
      b.push_back(h_phi_k * float(factorial) / b_h);
      factorial *= k + 1;
      h_phi_k = h_phi_k / hh - float(1.0 / factorial);
    }

    std::vector<float> rhos;
    if (model_t) {
      rhos = order == 1 ? std::vector<float>{0.5f} : solve(r, b);
    } else if (order == 2) {
      rhos = {0.5f};
    } else if (order > 2) {
      r.pop_back();
      for (auto& row : r) row.pop_back();
      b.pop_back();
      rhos = solve(r, b);
    }

    const float ratio = t.sigma / s0.sigma, c0 = t.alpha * h_phi_1, cb = t.alpha * b_h;
    for (size_t e = 0; e < result.size(); ++e) {
      const float base = ratio * x[e] - c0 * m0[e];
      float res = 0;
      for (size_t k = 0; k < older.size(); ++k) res += rhos[k] * (((*older[k])[e] - m0[e]) / rks[k]);
      if (model_t) res += rhos.back() * ((*model_t)[e] - m0[e]);
      result[e] = base - cb * res;
    }
  }

  TrainSchedule train_;
  Prediction prediction_;
  std::string spacing_;
  int order_;
  bool bh1_;
  std::vector<int> disable_corrector_;
  std::vector<float> sigmas_;            // one per iteration plus the final sigma
  std::vector<std::vector<float>> x0s_;  // the last solver_order x0 predictions, newest last
  std::vector<float> last_sample_;       // the sample the last predictor started from
  int order_used_ = 1, done_orders_ = 0;
};

}  // namespace

const nlohmann::json& unipc_defaults() { return kDefaults; }

std::unique_ptr<Scheduler> make_unipc(const Config& model_config) {
  return std::make_unique<UniPc>(resolve_config(model_config, kDefaults));
}

}  // namespace websd
