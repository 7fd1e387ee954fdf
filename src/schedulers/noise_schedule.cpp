#include "schedulers/noise_schedule.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "core/error.h"

namespace websd {

Config resolve_config(const Config& source, const nlohmann::json& defaults, const nlohmann::json& overrides) {
  const nlohmann::json& src = source.json().is_object() ? source.json() : nlohmann::json::object();
  std::set<std::string> use_default;
  if (src.contains("_use_default_values") && src["_use_default_values"].is_array())
    for (const auto& k : src["_use_default_values"])
      if (k.is_string()) use_default.insert(k.get<std::string>());
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [key, fallback] : defaults.items()) {
    const bool carried = src.contains(key) && !src[key].is_null() && !use_default.count(key);
    out[key] = carried ? src[key] : fallback;
  }
  for (const auto& [key, value] : overrides.items()) out[key] = value;
  return Config(std::move(out), source.path());
}

Prediction prediction_type(const Config& c, std::initializer_list<Prediction> allowed) {
  static const std::pair<const char*, Prediction> kNames[] = {{"epsilon", Prediction::kEpsilon},
                                                              {"v_prediction", Prediction::kVPrediction},
                                                              {"sample", Prediction::kSample}};
  const std::string value = c.get_string("prediction_type", "epsilon");
  std::string list;
  for (const auto& [name, p] : kNames) {
    if (std::find(allowed.begin(), allowed.end(), p) == allowed.end()) continue;
    if (value == name) return p;
    list += (list.empty() ? "\"" : ", \"") + std::string(name) + "\"";
  }
  c.unsupported("prediction_type", "is \"" + value + "\"; websd supports " + list + " for this sampler");
}

void require_false(const Config& c, const std::string& key) {
  c.require_one_of(key, {false});
}

Config with_value(const Config& c, const std::string& key, const nlohmann::json& value) {
  nlohmann::json j = c.json();
  j[key] = value;
  return Config(std::move(j), c.path());
}

namespace {

// torch.linspace(start, end, n, dtype=float32) on the CPU: float arithmetic, each half counted from its own
// end.
std::vector<float> torch_linspace_f32(double start, double end, int n) {
  const float s = float(start), e = float(end);
  const float step = n > 1 ? (e - s) / float(n - 1) : 0.0f;
  std::vector<float> out(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) out[size_t(i)] = i < n / 2 ? s + step * float(i) : e - step * float(n - 1 - i);
  return out;
}

// diffusers' betas_for_alpha_bar with the cosine ("squaredcos_cap_v2") alpha_bar: float64, then float32.
std::vector<float> cosine_betas(int n) {
  auto alpha_bar = [](double t) {
    const double c = std::cos((t + 0.008) / 1.008 * M_PI / 2);
    return c * c;
  };
  std::vector<float> betas(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i)
    betas[size_t(i)] = float(std::min(1 - alpha_bar(double(i + 1) / n) / alpha_bar(double(i) / n), 0.999));
  return betas;
}

// torch.cumprod on float32 accumulates in double on the CPU and rounds each output (accumulating in float
// moves the Karras timesteps by more than 1e-4).
std::vector<float> cumprod(const std::vector<float>& v) {
  std::vector<float> out(v.size());
  double acc = 1;
  for (size_t i = 0; i < v.size(); ++i) out[i] = float(acc *= double(v[i]));
  return out;
}

std::vector<float> one_minus(const std::vector<float>& v) {
  std::vector<float> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = 1.0f - v[i];
  return out;
}

// diffusers' rescale_zero_terminal_snr (Lin et al. 2023, Algorithm 1), in float32 as torch does it.
std::vector<float> rescale_zero_terminal_snr(const std::vector<float>& betas) {
  std::vector<float> root = cumprod(one_minus(betas));
  for (float& a : root) a = std::sqrt(a);
  const float first = root.front(), last = root.back();
  const float scale = first / (first - last);
  for (float& a : root) a = (a - last) * scale;
  std::vector<float> alphas(root.size());
  for (size_t i = 0; i < root.size(); ++i) {
    const float bar = root[i] * root[i];
    alphas[i] = i == 0 ? bar : bar / (root[i - 1] * root[i - 1]);
  }
  return one_minus(alphas);
}

}  // namespace

std::vector<float> TrainSchedule::sigmas() const {
  std::vector<float> out(alphas_cumprod.size());
  for (size_t i = 0; i < out.size(); ++i) out[i] = std::sqrt((1.0f - alphas_cumprod[i]) / alphas_cumprod[i]);
  return out;
}

TrainSchedule train_schedule(const Config& c, bool floor_terminal_alpha) {
  const int n = c.get_int("num_train_timesteps", 1000);
  // Models train on 1000; the cap keeps a damaged config from asking for gigabytes of schedule.
  if (n < 2 || n > 100000)
    c.invalid("num_train_timesteps", "must be from 2 to 100000, found " + std::to_string(n));
  std::vector<float> betas;
  if (c.has("trained_betas")) {
    const auto& list = c.json()["trained_betas"];
    if (!list.is_array() || int(list.size()) != n)
      c.invalid("trained_betas", "must be a list of num_train_timesteps (" + std::to_string(n) + ") numbers");
    for (const auto& b : list) {
      if (!b.is_number()) c.invalid("trained_betas", "must hold numbers, found " + b.dump());
      betas.push_back(b.get<float>());
    }
  } else {
    c.require_one_of("beta_schedule", {"linear", "scaled_linear", "squaredcos_cap_v2"});
    const std::string schedule = c.get_string("beta_schedule", "linear");
    const double start = c.get_number("beta_start", 0.0001), end = c.get_number("beta_end", 0.02);
    if (schedule == "linear") {
      betas = torch_linspace_f32(start, end, n);
    } else if (schedule == "scaled_linear") {
      betas = torch_linspace_f32(std::sqrt(start), std::sqrt(end), n);
      for (float& b : betas) b = b * b;
    } else {
      betas = cosine_betas(n);
    }
  }
  const bool zero_snr = c.get_bool("rescale_betas_zero_snr", false);
  if (zero_snr) betas = rescale_zero_terminal_snr(betas);
  TrainSchedule s{cumprod(one_minus(betas))};
  if (zero_snr && floor_terminal_alpha) s.alphas_cumprod.back() = 0x1p-24f;
  return s;
}

std::string timestep_spacing(const Config& c) {
  c.require_one_of("timestep_spacing", {"linspace", "leading", "trailing"});
  return c.get_string("timestep_spacing", "leading");
}

std::vector<double> np_linspace(double start, double stop, int num, bool endpoint) {
  const int div = endpoint ? num - 1 : num;
  const double delta = stop - start;
  std::vector<double> y(size_t(std::max(num, 0)));
  for (int i = 0; i < num; ++i) {
    if (div == 0)
      y[size_t(i)] = start;
    else if (delta / div == 0)
      y[size_t(i)] = double(i) / div * delta + start;
    else
      y[size_t(i)] = double(i) * (delta / div) + start;
  }
  if (endpoint && num > 1) y.back() = stop;
  return y;
}

std::vector<double> np_arange(double start, double stop, double step) {
  const double len = std::ceil((stop - start) / step);
  std::vector<double> out(len > 0 ? size_t(len) : 0);
  // numpy fills from the first two values: start + i * ((start + step) - start).
  const double delta = (start + step) - start;
  for (size_t i = 0; i < out.size(); ++i) out[i] = i == 0 ? start : start + double(i) * delta;
  return out;
}

// The default rounding mode rounds to nearest, ties to even.
double round_half_even(double x) {
  return std::nearbyint(x);
}

double interp_table(double x, const std::vector<float>& table) {
  const int last = int(table.size()) - 1;
  if (x <= 0) return table.front();
  if (x >= last) return table.back();
  const int j = int(std::floor(x));
  if (x == j) return table[size_t(j)];
  const double slope = double(table[size_t(j) + 1]) - double(table[size_t(j)]);
  return slope * (x - j) + double(table[size_t(j)]);
}

std::vector<double> spaced_timesteps(const std::string& spacing, int train_steps, int steps, int offset,
                                     bool round_linspace) {
  std::vector<double> t;
  if (spacing == "linspace") {
    t = np_linspace(0, train_steps - 1, steps);
    if (round_linspace)
      for (double& v : t) v = round_half_even(v);
    std::reverse(t.begin(), t.end());
  } else if (spacing == "leading") {
    const int ratio = train_steps / steps;
    for (int i = steps - 1; i >= 0; --i) t.push_back(double(i * ratio + offset));
  } else {
    t = np_arange(train_steps, 0, -double(train_steps) / steps);
    for (double& v : t) v = round_half_even(v) - 1;
  }
  return t;
}

std::vector<double> multistep_timesteps(const std::string& spacing, int last_timestep, int train_steps,
                                        int steps, int offset) {
  std::vector<double> t;
  if (spacing == "linspace") {
    std::vector<double> all = np_linspace(0, last_timestep - 1, steps + 1);
    for (int i = steps; i >= 1; --i) t.push_back(round_half_even(all[size_t(i)]));
  } else if (spacing == "leading") {
    const int ratio = last_timestep / (steps + 1);
    for (int i = steps; i >= 1; --i) t.push_back(double(i * ratio + offset));
  } else {
    t = np_arange(last_timestep, 0, -double(train_steps) / steps);
    for (double& v : t) v = round_half_even(v) - 1;
  }
  return t;
}

std::vector<double> karras_sigmas(double sigma_min, double sigma_max, int steps) {
  const double rho = 7.0;
  const double min_inv_rho = std::pow(sigma_min, 1 / rho), max_inv_rho = std::pow(sigma_max, 1 / rho);
  std::vector<double> out;
  for (double r : np_linspace(0, 1, steps))
    out.push_back(std::pow(max_inv_rho + r * (min_inv_rho - max_inv_rho), rho));
  return out;
}

double sigma_to_t(double sigma, const std::vector<float>& log_sigmas) {
  const double log_sigma = std::log(std::max(sigma, 1e-10));
  const int n = int(log_sigmas.size());
  // The last table entry at or below log_sigma (0 if none), kept below the final entry.
  int low = 0;
  for (int i = 0; i < n; ++i)
    if (log_sigma - double(log_sigmas[size_t(i)]) >= 0) low = i;
  low = std::min(low, n - 2);
  const float lo = log_sigmas[size_t(low)], hi = log_sigmas[size_t(low) + 1];
  // numpy subtracts the two float32 table entries in float32.
  const double w = std::clamp((double(lo) - log_sigma) / double(lo - hi), 0.0, 1.0);
  return (1 - w) * low + w * (low + 1);
}

std::vector<float> log_f32(const std::vector<float>& v) {
  std::vector<float> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = std::log(v[i]);
  return out;
}

double sigma_input_scale(float sigma) {
  return 1.0 / double(std::sqrt(sigma * sigma + 1.0f));
}

double sigma_init_noise(float max_sigma, const std::string& spacing) {
  if (spacing == "linspace" || spacing == "trailing") return max_sigma;
  return std::sqrt(max_sigma * max_sigma + 1.0f);
}

std::vector<double> interpolated_sigmas(const Config& c, const TrainSchedule& train,
                                        std::vector<double>& timesteps) {
  const std::vector<float> table = train.sigmas();
  std::vector<double> sig;
  for (double& t : timesteps) {
    t = float(t);  // numpy makes them float32 before interpolating
    sig.push_back(interp_table(t, table));
  }
  if (!c.get_bool("use_karras_sigmas", false)) return sig;
  sig = karras_sigmas(c.get_number("sigma_min", sig.back()), c.get_number("sigma_max", sig.front()),
                      int(sig.size()));
  const std::vector<float> log_table = log_f32(table);
  for (size_t i = 0; i < sig.size(); ++i) timesteps[i] = float(sigma_to_t(sig[i], log_table));
  return sig;
}

namespace {
void mix(std::span<float> x, std::span<const float> noise, float a, float b) {
  for (size_t k = 0; k < x.size(); ++k) {
    const float kept = a * x[k], added = b * noise[k];  // two products, then the sum: as torch's tensor ops round
    x[k] = kept + added;
  }
}
}  // namespace

void add_noise_alpha(std::span<float> x, std::span<const float> noise, float alpha_cumprod) {
  mix(x, noise, std::sqrt(alpha_cumprod), std::sqrt(1.0f - alpha_cumprod));
}

void add_noise_sigma(std::span<float> x, std::span<const float> noise, float sigma) { mix(x, noise, 1.0f, sigma); }

void add_noise_alpha_sigma(std::span<float> x, std::span<const float> noise, float sigma) {
  const AlphaSigma s = alpha_sigma(sigma);
  mix(x, noise, s.alpha, s.sigma);
}

AlphaSigma alpha_sigma(float sigma) {
  const float alpha = 1.0f / std::sqrt(sigma * sigma + 1.0f), s = sigma * alpha;
  return {alpha, s, std::log(alpha) - std::log(s)};
}

std::vector<float> multistep_sigmas(const Config& c, const TrainSchedule& train,
                                    std::vector<double>& timesteps) {
  c.require_one_of("final_sigmas_type", {"zero", "sigma_min"});
  const std::vector<float> table = train.sigmas();
  std::vector<double> sig;
  if (c.get_bool("use_karras_sigmas", false)) {
    sig = karras_sigmas(c.get_number("sigma_min", table.front()), c.get_number("sigma_max", table.back()),
                        int(timesteps.size()));
    const std::vector<float> log_table = log_f32(table);
    for (size_t i = 0; i < sig.size(); ++i) timesteps[i] = round_half_even(sigma_to_t(sig[i], log_table));
  } else {
    for (double t : timesteps) sig.push_back(interp_table(t, table));
  }
  std::vector<float> out(sig.begin(), sig.end());
  const bool zero = c.get_string("final_sigmas_type", "zero") == "zero";
  out.push_back(zero ? 0.0f : c.get_bool("use_karras_sigmas", false) ? out.back() : table.front());
  return out;
}

}  // namespace websd
