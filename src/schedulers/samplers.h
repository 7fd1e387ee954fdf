// Internal to src/schedulers: what every sampler shares, and one factory per sampler family.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "schedulers/noise_schedule.h"
#include "schedulers/scheduler.h"

namespace websd {

class SamplerBase : public Scheduler {
 public:
  SamplerBase(std::string name, Config config) : name_(std::move(name)), config_(std::move(config)) {}
  std::string name() const override { return name_; }
  const Config& config() const override { return config_; }
  const std::vector<double>& timesteps() const override { return timesteps_; }

 protected:
  // Error(kInvalidArgument) unless 1 <= steps <= max_steps.
  void check_steps(int steps, int max_steps) const;
  // Error(kInvalidArgument) if steps_offset pushed a timestep past the training schedule (for samplers that
  // index alphas_cumprod with it; diffusers fails there too).
  void check_timesteps_below(int train_steps) const;

  std::string name_;
  Config config_;
  std::vector<double> timesteps_;
};

// Each takes the model's scheduler config and applies from_config semantics with its class's defaults.
std::unique_ptr<Scheduler> make_pndm(const Config& model_config);
std::unique_ptr<Scheduler> make_ddim(const Config& model_config);
std::unique_ptr<Scheduler> make_euler(const Config& model_config, bool karras);
std::unique_ptr<Scheduler> make_euler_ancestral(const Config& model_config);
std::unique_ptr<Scheduler> make_dpm_solver(const Config& model_config, bool karras);
std::unique_ptr<Scheduler> make_heun(const Config& model_config);
std::unique_ptr<Scheduler> make_unipc(const Config& model_config);
std::unique_ptr<Scheduler> make_lcm(const Config& model_config);

// Each class's constructor defaults (the keys it reads), as diffusers declares them.
const nlohmann::json& pndm_defaults();
const nlohmann::json& ddim_defaults();
const nlohmann::json& euler_defaults();
const nlohmann::json& euler_ancestral_defaults();
const nlohmann::json& dpm_solver_defaults();
const nlohmann::json& heun_defaults();
const nlohmann::json& lcm_defaults();
const nlohmann::json& unipc_defaults();

}  // namespace websd
