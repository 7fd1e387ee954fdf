// The maths every sampler shares, at diffusers' precision: the training noise schedule (betas,
// alphas_cumprod, sigmas) in float32 as torch computes it, and the inference timestep and sigma tables in
// float64 as numpy computes them (the samplers cast them to float32 where diffusers does).
#pragma once

#include <cmath>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "io/config.h"

namespace websd {

// diffusers' SchedulerClass.from_config(source, **overrides) for the keys of `defaults` (each with the
// class's default): a key takes the source's value unless the source lacks it, has null there, or lists it in
// "_use_default_values" (the source class used its own default, so the new class uses its own); `overrides`
// win. The result keeps the source's path so that errors name the model's file.
Config resolve_config(const Config& source, const nlohmann::json& defaults,
                      const nlohmann::json& overrides = nlohmann::json::object());

enum class Prediction { kEpsilon, kVPrediction, kSample };
// The config's prediction_type; Error(kUnsupported) unless it is one of `allowed`.
Prediction prediction_type(const Config& c, std::initializer_list<Prediction> allowed);

// Error(kUnsupported) unless `key` is false: for options websd does not implement.
void require_false(const Config& c, const std::string& key);
// `c` with `key` set to `value` (a class's __init__ rewriting its own config).
Config with_value(const Config& c, const std::string& key, const nlohmann::json& value);

struct TrainSchedule {
  std::vector<float> alphas_cumprod;  // float32, indexed by training timestep

  int size() const { return int(alphas_cumprod.size()); }
  std::vector<float> sigmas() const;  // ((1 - a) / a) ** 0.5 in float32, ascending with the timestep
};

// From num_train_timesteps, beta_start, beta_end, beta_schedule, trained_betas and, where the class has the
// key, rescale_betas_zero_snr. `floor_terminal_alpha`: the sigma-space samplers replace the zero terminal
// alpha of a zero-SNR schedule by 2^-24 so that the first sigma stays finite.
TrainSchedule train_schedule(const Config& c, bool floor_terminal_alpha);

// The validated timestep_spacing: linspace, leading or trailing.
std::string timestep_spacing(const Config& c);
// Inference timesteps, descending, as most samplers space them (float64, before any cast): linspace spans
// [0, train_steps - 1] (rounded half to even when `round_linspace`), leading counts up from 0 in steps of
// train_steps / steps (integer division) plus `offset`, trailing counts down from train_steps - 1.
std::vector<double> spaced_timesteps(const std::string& spacing, int train_steps, int steps, int offset,
                                     bool round_linspace);
// DPM-Solver's and UniPC's variant: `steps + 1` points below `last_timestep` of which the final one is
// dropped.
std::vector<double> multistep_timesteps(const std::string& spacing, int last_timestep, int train_steps,
                                        int steps, int offset);

// numpy's linspace and arange in float64, computed as numpy computes them.
std::vector<double> np_linspace(double start, double stop, int num, bool endpoint = true);
std::vector<double> np_arange(double start, double stop, double step);
// numpy's round(): half to even.
double round_half_even(double x);
// np.interp(x, arange(len(table)), table).
double interp_table(double x, const std::vector<float>& table);

// Karras et al. (2022) sigmas from sigma_max down to sigma_min (rho = 7), float64.
std::vector<double> karras_sigmas(double sigma_min, double sigma_max, int steps);
// diffusers' _sigma_to_t: the fractional training timestep of `sigma`, interpolated in log-sigma space over
// `log_sigmas` (float32, ascending).
double sigma_to_t(double sigma, const std::vector<float>& log_sigmas);
std::vector<float> log_f32(const std::vector<float>& v);

// The sigma-space samplers (Euler, Euler ancestral, Heun), all in float32 as diffusers' tensors are:
// the model input is sample / (sigma^2 + 1) ** 0.5, returned as the factor to multiply by;
double sigma_input_scale(float sigma);
// the initial noise is scaled by the largest sigma, or by (max^2 + 1) ** 0.5 for leading spacing;
double sigma_init_noise(float max_sigma, const std::string& spacing);
// their sigmas for `timesteps` (float64, without the final one): np.interp over the training sigmas, or with
// use_karras_sigmas Karras sigmas between the config's sigma_min / sigma_max where it has them, else the ends
// of the interpolated ones, and the fractional timesteps found back from them. The timesteps come in as
// spaced and leave as the float32 values diffusers feeds the UNet;
std::vector<double> interpolated_sigmas(const Config& c, const TrainSchedule& train,
                                        std::vector<double>& timesteps);
// x0 as predicted from sample value x and model output m at noise level sigma.
inline float sigma_x0(Prediction p, float sigma, float x, float m) {
  if (p == Prediction::kEpsilon) return x - sigma * m;
  if (p == Prediction::kVPrediction)
    return m * (-sigma / std::sqrt(sigma * sigma + 1)) + x / (sigma * sigma + 1);
  return m;
}

// DPM-Solver and UniPC: alpha_t = 1 / (sigma^2 + 1) ** 0.5, sigma_t = sigma * alpha_t and the half log-SNR
// lambda = log(alpha_t) - log(sigma_t), in float32 (sigma = 0 gives lambda = +inf, which their formulas
// absorb).
struct AlphaSigma {
  float alpha, sigma, lambda;
};
AlphaSigma alpha_sigma(float sigma);

// add_noise as the three kinds of sampler define it, in float32: sqrt(a)·x + sqrt(1 - a)·noise at
// alphas_cumprod a (DDPM-style: pndm, ddim, lcm); x + sigma·noise (Euler, Euler ancestral, Heun); alpha_t·x +
// sigma_t·noise of alpha_sigma(sigma) (DPM-Solver, UniPC).
void add_noise_alpha(std::span<float> x, std::span<const float> noise, float alpha_cumprod);
void add_noise_sigma(std::span<float> x, std::span<const float> noise, float sigma);
void add_noise_alpha_sigma(std::span<float> x, std::span<const float> noise, float sigma);
// Their inference sigmas for `timesteps` plus the final one (0, or the smallest training sigma when
// final_sigmas_type is sigma_min). With use_karras_sigmas the timesteps are replaced by the rounded timesteps
// of the Karras sigmas (between the config's sigma_min / sigma_max where it has them, else the table's ends).
std::vector<float> multistep_sigmas(const Config& c, const TrainSchedule& train,
                                    std::vector<double>& timesteps);

}  // namespace websd
