#include "schedulers/scheduler.h"

#include <functional>
#include <set>
#include <utility>

#include "core/error.h"
#include "schedulers/samplers.h"

namespace websd {

namespace {

using Factory = std::function<std::unique_ptr<Scheduler>(const Config&)>;

const std::vector<std::pair<std::string, Factory>>& factories() {
  static const std::vector<std::pair<std::string, Factory>> kFactories = {
      {"pndm", make_pndm},
      {"ddim", make_ddim},
      {"euler", [](const Config& c) { return make_euler(c, false); }},
      {"euler_a", make_euler_ancestral},
      {"euler_karras", [](const Config& c) { return make_euler(c, true); }},
      {"dpmpp_2m", [](const Config& c) { return make_dpm_solver(c, false); }},
      {"dpmpp_2m_karras", [](const Config& c) { return make_dpm_solver(c, true); }},
      {"heun", make_heun},
      {"unipc", make_unipc},
      {"lcm", make_lcm},
  };
  return kFactories;
}

}  // namespace

void SamplerBase::check_steps(int steps, int max_steps) const {
  if (steps < 1 || steps > max_steps)
    throw Error(ErrorCode::kInvalidArgument, name_ + ": the number of steps must be between 1 and " +
                                                 std::to_string(max_steps) + ", got " +
                                                 std::to_string(steps));
}

void SamplerBase::check_timesteps_below(int train_steps) const {
  for (double t : timesteps_)
    if (t >= train_steps)
      throw Error(ErrorCode::kInvalidArgument,
                  name_ + ": with steps_offset " + std::to_string(config_.get_int("steps_offset", 0)) +
                      " timestep " + std::to_string(int(t)) + " lies past num_train_timesteps (" +
                      std::to_string(train_steps) + "); use fewer steps");
}

const std::vector<std::string>& scheduler_names() {
  static const std::vector<std::string> kNames = [] {
    std::vector<std::string> names;
    for (const auto& [name, factory] : factories()) names.push_back(name);
    return names;
  }();
  return kNames;
}

std::string scheduler_name_for_class(const std::string& class_name) {
  static const std::pair<const char*, const char*> kMap[] = {
      {"PNDMScheduler", "pndm"},
      {"DDIMScheduler", "ddim"},
      {"EulerDiscreteScheduler", "euler"},
      {"EulerAncestralDiscreteScheduler", "euler_a"},
      {"DPMSolverMultistepScheduler", "dpmpp_2m"},
      {"HeunDiscreteScheduler", "heun"},
      {"UniPCMultistepScheduler", "unipc"},
      {"LCMScheduler", "lcm"},
  };
  for (auto [cls, name] : kMap)
    if (class_name == cls) return name;
  return "";
}

namespace {

// diffusers remembers in memory which config values were class defaults (_use_default_values) and from_config
// lets the new class use its own defaults for those; a saved scheduler_config.json loses that record, and
// newer diffusers writes every default out. Recover it for the keys diffusers added after the original Stable
// Diffusion configs (timestep_spacing, thresholding, ...): there a value equal to the source class's default
// counts as a default, as if the key had been omitted the way SD 1.5's own config omits it. The keys those
// configs always carried (betas, steps_offset, set_alpha_to_one, ...) stay explicit, as they were there.
Config with_recovered_defaults(const Config& model_config) {
  if (model_config.json().contains("_use_default_values")) return model_config;
  const std::string source = scheduler_name_for_class(model_config.get_string("_class_name", ""));
  if (source.empty()) return model_config;
  static const std::pair<const char*, const nlohmann::json& (*)()> kDefaults[] = {
      {"pndm", pndm_defaults},   {"ddim", ddim_defaults},   {"euler", euler_defaults},
      {"euler_a", euler_ancestral_defaults}, {"dpmpp_2m", dpm_solver_defaults}, {"heun", heun_defaults},
      {"unipc", unipc_defaults}, {"lcm", lcm_defaults}};
  nlohmann::json defaults = nlohmann::json::object();
  for (auto [n, fn] : kDefaults)
    if (source == n) defaults = fn();
  nlohmann::json j = model_config.json();
  nlohmann::json used = nlohmann::json::array();
  static const std::set<std::string> kOriginalKeys = {
      "num_train_timesteps", "beta_start", "beta_end",      "beta_schedule", "trained_betas",
      "skip_prk_steps",      "set_alpha_to_one", "steps_offset", "clip_sample",   "prediction_type"};
  for (const auto& [key, value] : defaults.items())
    if (!kOriginalKeys.count(key) && j.contains(key) && j[key] == value) used.push_back(key);
  j["_use_default_values"] = used;
  return Config(std::move(j), model_config.path());
}

}  // namespace

namespace {

// The model's config with `overrides` written over it; an overridden key no longer counts as a default.
Config with_overrides(const Config& config, const nlohmann::json& overrides) {
  if (!overrides.is_object())
    throw Error(ErrorCode::kInvalidArgument, "scheduler overrides must be a JSON object, got " + overrides.dump());
  if (overrides.empty()) return config;
  nlohmann::json j = config.json();
  nlohmann::json defaulted = nlohmann::json::array();
  if (j.contains("_use_default_values") && j["_use_default_values"].is_array())
    for (const auto& k : j["_use_default_values"])
      if (!k.is_string() || !overrides.contains(k.get<std::string>())) defaulted.push_back(k);
  j["_use_default_values"] = defaulted;
  for (const auto& [key, value] : overrides.items()) j[key] = value;
  return Config(std::move(j), config.path() + " with the overrides " + overrides.dump());
}

}  // namespace

std::unique_ptr<Scheduler> make_scheduler(const std::string& name, const Config& model_config,
                                          const nlohmann::json& overrides) {
  for (const auto& [n, factory] : factories()) {
    if (n != name) continue;
    auto s = factory(with_overrides(with_recovered_defaults(model_config), overrides));
    for (const auto& [key, value] : overrides.items()) {
      if (s->config().json().contains(key)) continue;
      std::string keys;
      for (const auto& [k, v] : s->config().json().items()) keys += (keys.empty() ? "" : ", ") + k;
      throw Error(ErrorCode::kInvalidArgument,
                  name + " has no setting \"" + key + "\" to override; it reads " + keys);
    }
    return s;
  }
  std::string list;
  for (const auto& n : scheduler_names()) list += (list.empty() ? "" : ", ") + n;
  throw Error(ErrorCode::kInvalidArgument, "unknown scheduler \"" + name + "\"; choose one of " + list);
}

}  // namespace websd
