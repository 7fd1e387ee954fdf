// Rung 4 of the correctness ladder: the ten samplers and the denoising loop against diffusers. For each
// fixture model and sampler: the effective config equals diffusers' from_config result, the timesteps match,
// and the full loop with the real tiny UNet on the cpu backend reproduces the latents after every iteration.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "backends/cpu/cpu_backend.h"
#include "core/error.h"
#include "fixtures.h"
#include "io/pipeline_folder.h"
#include "io/safetensors.h"
#include "models/unet.h"
#include "pipeline/denoise.h"
#include "schedulers/scheduler.h"

namespace websd {
namespace {

constexpr float kLatentTolerance = 1e-3f;
constexpr double kTimestepTolerance = 1e-4;

// Everything a model's cases share, built once per model.
struct ModelFixture {
  Config reference;  // reference.json
  std::unique_ptr<SafetensorsFile> tensors;
  UNetConfig unet_cfg;
  UNetGraph unet;
  std::unique_ptr<Backend> backend;
  std::unique_ptr<Executable> exe;

  // diffusers' pipe.scheduler.config: the pipeline's PNDM config as diffusers held it in memory, with
  // _use_default_values (which the saved scheduler_config.json no longer lists).
  Config pipeline_scheduler_config() const {
    return Config(reference.json()["schedulers"]["pndm"], reference.path() + " (schedulers.pndm)");
  }
  std::vector<float> get(const std::string& name) const { return tensors->get(name).to_f32(); }
};

const ModelFixture& model_fixture(const std::string& model) {
  static std::map<std::string, std::unique_ptr<ModelFixture>> cache;
  auto& f = cache[model];
  if (!f) {
    f = std::make_unique<ModelFixture>();
    f->reference = Config::load(test::fixture(model + "/reference.json"));
    f->tensors = std::make_unique<SafetensorsFile>(
        SafetensorsFile::open(test::fixture(model + "/reference.safetensors")));
    const PipelineFolder folder = PipelineFolder::open(test::fixture(model + "/model"));
    f->unet_cfg = UNetConfig::from(folder.config("unet"));
    const int h = f->reference.get_int("height") / 8, w = f->reference.get_int("width") / 8;
    f->unet = build_unet(f->unet_cfg, *folder.weights("unet"), 2, h, w);
    f->backend = make_cpu_backend();
    f->exe = f->backend->compile(f->unet.graph);
  }
  return *f;
}

// JSON values as diffusers' config would compare them; numbers (and Python's infinities) by value.
bool same_value(const nlohmann::json& a, const nlohmann::json& b) {
  auto number = [](const nlohmann::json& v, double& out) {
    if (v.is_number()) return out = v.get<double>(), true;
    if (v == "-Infinity") return out = -INFINITY, true;
    if (v == "Infinity") return out = INFINITY, true;
    return false;
  };
  double x, y;
  if (number(a, x) && number(b, y)) return x == y;
  return a == b;
}

using Case = std::tuple<std::string, std::string>;  // model, scheduler

std::string case_name(const testing::TestParamInfo<Case>& info) {
  std::string s = std::get<0>(info.param) + "_" + std::get<1>(info.param);
  for (char& c : s)
    if (c == '-') c = '_';
  return s;
}

class SchedulerParity : public testing::TestWithParam<Case> {
 protected:
  const std::string& model() const { return std::get<0>(GetParam()); }
  const std::string& name() const { return std::get<1>(GetParam()); }
  const ModelFixture& fixture() const { return model_fixture(model()); }
  std::unique_ptr<Scheduler> scheduler() const {
    return make_scheduler(name(), fixture().pipeline_scheduler_config());
  }
};

TEST_P(SchedulerParity, EffectiveConfigMatchesDiffusers) {
  auto s = scheduler();
  EXPECT_EQ(s->name(), name());
  const nlohmann::json& want = fixture().reference.json()["schedulers"][name()];
  ASSERT_TRUE(want.is_object());
  EXPECT_GE(s->config().json().size(), 5u);
  for (const auto& [key, value] : s->config().json().items()) {
    ASSERT_TRUE(want.contains(key)) << name() << " reads \"" << key
                                    << "\", which diffusers' class does not have";
    EXPECT_TRUE(same_value(value, want[key]))
        << name() << "." << key << ": websd " << value.dump() << ", diffusers " << want[key].dump();
  }
}

TEST_P(SchedulerParity, Timesteps) {
  auto s = scheduler();
  s->set_timesteps(fixture().reference.get_int("steps"));
  const std::vector<float> want = fixture().get(name() + "/timesteps");
  ASSERT_EQ(s->timesteps().size(), want.size());
  for (size_t i = 0; i < want.size(); ++i)
    EXPECT_NEAR(s->timesteps()[i], want[i], kTimestepTolerance) << "i=" << i;
}

TEST_P(SchedulerParity, LatentsPerStep) {
  const ModelFixture& f = fixture();
  auto s = scheduler();
  s->set_timesteps(f.reference.get_int("steps"));
  const std::vector<float> want = f.get(name() + "/latents_per_step");
  const Shape in = f.unet.graph->shape(f.unet.sample);
  const size_t n = size_t(in.numel() / in[0]);
  ASSERT_EQ(want.size(), n * size_t(s->iterations()));

  TorchGenerator gen(uint64_t(f.reference.get_int("seed")));
  std::vector<float> latents = gen.randn(n);
  const float sigma = float(s->init_noise_sigma());
  for (float& v : latents) v *= sigma;
  std::vector<float> context = f.get("text_uncond");
  const std::vector<float> cond = f.get("text_cond");
  context.insert(context.end(), cond.begin(), cond.end());

  std::vector<float> errors;
  denoise(*f.exe, f.unet, f.unet_cfg, *s, latents, {context},
          float(f.reference.get_number("guidance_scale", 0)), gen, [&](int i, const std::vector<float>& got) {
            errors.push_back(
                test::max_abs_diff(got, {want.begin() + long(n) * i, want.begin() + long(n) * (i + 1)}));
            return true;
          });
  ASSERT_EQ(int(errors.size()), s->iterations());
  std::string per_step;
  float worst = 0;
  for (float e : errors) {
    per_step += (per_step.empty() ? "" : " ") + std::to_string(e).substr(0, 8);
    worst = std::max(worst, e);
  }
  std::printf("  %-9s %-16s max abs error %.3g (per step: %s)\n", model().c_str(), name().c_str(), worst,
              per_step.c_str());
  for (size_t i = 0; i < errors.size(); ++i) EXPECT_LE(errors[i], kLatentTolerance) << "iteration " << i;
}

INSTANTIATE_TEST_SUITE_P(Fixtures, SchedulerParity,
                         testing::Combine(testing::Values("tiny-sd1", "tiny-sd2"),
                                          testing::ValuesIn(scheduler_names())),
                         case_name);

template <typename F>
ErrorCode error_code(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.code();
  }
  ADD_FAILURE() << "no Error thrown";
  return ErrorCode::kInternal;
}

TEST(Schedulers, NamesAreTheCliNames) {
  EXPECT_EQ(scheduler_names(),
            (std::vector<std::string>{"pndm", "ddim", "euler", "euler_a", "euler_karras", "dpmpp_2m",
                                      "dpmpp_2m_karras", "heun", "unipc", "lcm"}));
}

TEST(Schedulers, UnknownNameListsTheValidOnes) {
  const Config c(nlohmann::json::object(), "scheduler_config.json");
  try {
    make_scheduler("euler_ancestral", c);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    const std::string msg = e.what();
    for (const auto& n : scheduler_names()) EXPECT_NE(msg.find(n), std::string::npos) << msg;
  }
}

// Found by scripts/fuzz.sh: a config asking for a billion training timesteps allocated gigabytes of schedule.
TEST(Schedulers, ImplausibleTrainingTimestepsAreRefused) {
  Config c = model_fixture("tiny-sd1").pipeline_scheduler_config();
  nlohmann::json j = c.json();
  j["num_train_timesteps"] = 1000000000;
  const Config big(j, "scheduler_config.json");
  for (const auto& n : scheduler_names())
    EXPECT_EQ(error_code([&] { make_scheduler(n, big); }), ErrorCode::kCorruptFile) << n;
}

TEST(Schedulers, ZeroStepsIsInvalid) {
  const Config c = model_fixture("tiny-sd1").pipeline_scheduler_config();
  for (const auto& n : scheduler_names()) {
    auto s = make_scheduler(n, c);
    EXPECT_EQ(error_code([&] { s->set_timesteps(0); }), ErrorCode::kInvalidArgument) << n;
    EXPECT_EQ(error_code([&] { s->set_timesteps(1001); }), ErrorCode::kInvalidArgument) << n;
  }
  // Leading spacing with steps_offset 1 would index timestep 1000 of 1000.
  for (const char* n : {"pndm", "ddim"})
    EXPECT_EQ(error_code([&] { make_scheduler(n, c)->set_timesteps(1000); }), ErrorCode::kInvalidArgument)
        << n;
}

TEST(Schedulers, UnsupportedBetaScheduleNamesFileKeyAndValue) {
  const Config c(nlohmann::json{{"beta_schedule", "sigmoid"}, {"skip_prk_steps", true}},
                 "model/scheduler_config.json");
  for (const auto& n : scheduler_names()) {
    try {
      make_scheduler(n, c);
      ADD_FAILURE() << n << ": no error";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kUnsupported) << n;
      const std::string msg = e.what();
      EXPECT_EQ(msg.rfind("model/scheduler_config.json: \"beta_schedule\" is \"sigmoid\"; websd supports", 0),
                0u)
          << msg;
    }
  }
}

// A key the source class took from its own defaults (listed in _use_default_values) is not carried over.
TEST(Schedulers, FromConfigSkipsKeysTheSourceDefaulted) {
  nlohmann::json src = {{"timestep_spacing", "leading"}, {"steps_offset", 1}};
  EXPECT_EQ(make_scheduler("euler", Config(src, "a.json"))->config().get_string("timestep_spacing", ""),
            "leading");
  src["_use_default_values"] = {"timestep_spacing"};
  auto s = make_scheduler("euler_karras", Config(src, "a.json"));
  EXPECT_EQ(s->config().get_string("timestep_spacing", ""), "linspace");
  EXPECT_EQ(s->config().get_int("steps_offset"), 1);
  EXPECT_TRUE(s->config().get_bool("use_karras_sigmas", false));
}

// The options the fixtures do not reach (other spacings and beta schedules, zero-SNR rescaling, sample
// prediction, one or many steps) still give the right number of iterations and finite samples.
TEST(Schedulers, OtherOptionsRunFinite) {
  const nlohmann::json base = model_fixture("tiny-sd1").pipeline_scheduler_config().json();
  const std::vector<nlohmann::json> variants = {
      {{"timestep_spacing", "trailing"}},
      {{"timestep_spacing", "leading"}, {"prediction_type", "v_prediction"}},
      {{"beta_schedule", "squaredcos_cap_v2"}, {"timestep_spacing", "linspace"}},
      {{"rescale_betas_zero_snr", true},
       {"prediction_type", "v_prediction"},
       {"timestep_spacing", "trailing"}},
      {{"beta_schedule", "linear"}, {"prediction_type", "sample"}, {"clip_sample", true}},
  };
  for (const auto& name : scheduler_names()) {
    for (const auto& variant : variants) {
      nlohmann::json j = base;
      j.erase("_use_default_values");
      j.update(variant);
      std::unique_ptr<Scheduler> s;
      try {
        s = make_scheduler(name, Config(j, "variant.json"));
      } catch (const Error& e) {
        // Only sample prediction may be refused (pndm and euler_a lack it, as in diffusers).
        EXPECT_EQ(e.code(), ErrorCode::kUnsupported) << name << " " << variant.dump();
        EXPECT_EQ(variant.value("prediction_type", ""), "sample") << name << ": " << e.what();
        continue;
      }
      for (int steps : {1, 7, 50}) {
        s->set_timesteps(steps);
        const int want = name == "heun" ? 2 * steps - 1 : name == "pndm" && steps > 1 ? steps + 1 : steps;
        EXPECT_EQ(s->iterations(), want) << name << " " << variant.dump();
        TorchGenerator gen(3);
        std::vector<float> x = gen.randn(64);
        for (float& v : x) v *= float(s->init_noise_sigma());
        for (int i = 0; i < s->iterations(); ++i) {
          std::vector<float> out = gen.randn(64);
          for (float& v : out) v *= float(s->input_scale(i));
          s->step(out, i, x, gen);
        }
        for (float v : x)
          ASSERT_TRUE(std::isfinite(v)) << name << " " << variant.dump() << " steps " << steps;
      }
    }
  }
}

TEST(Schedulers, SavedConfigGivesThePipelinesPndm) {
  const Config saved = Config::load(test::fixture("tiny-sd1/model/scheduler/scheduler_config.json"));
  auto a = make_scheduler("pndm", saved);
  auto b = make_scheduler("pndm", model_fixture("tiny-sd1").pipeline_scheduler_config());
  EXPECT_EQ(a->config().json(), b->config().json());
}

// SD-Turbo style runs from reference_extra: Euler ancestral with trailing spacing and guidance 0, so the UNet
// graph has batch 1 and sees the conditional embeddings only.
// add_noise puts the latents at the noise level of the iteration a run starts from: a model that always predicts
// the very noise that was added takes every deterministic sampler from there exactly back to the clean latents
// (in each sampler's own update rule), for epsilon prediction. ddim steps by a fixed num_train / steps and ends at
// alphas_cumprod[0] unless set_alpha_to_one, as diffusers' does, so it is held to this with leading spacing and
// set_alpha_to_one. pndm is not: started part-way, its PLMS warm-up (built for the duplicated second timestep)
// runs on the wrong entries, in diffusers as here; it and euler_a are held to diffusers' img2img references
// instead (test_pipeline's Img2Img.MatchesDiffusers).
TEST(Schedulers, AddNoiseIsWhereTheStepsStartFrom) {
  const Config saved = Config::load(test::fixture("tiny-sd1/model/scheduler/scheduler_config.json"));
  TorchGenerator gen(3);
  const std::vector<float> clean = gen.randn(64), eps = gen.randn(64);
  for (const char* name : {"ddim", "euler", "euler_karras", "dpmpp_2m", "dpmpp_2m_karras", "heun", "unipc"}) {
    SCOPED_TRACE(name);
    const bool fixed_stride = std::string(name) == "ddim";
    for (const auto& spacing : {"leading", "linspace", "trailing"}) {
      if (fixed_stride && std::string(spacing) != "leading") continue;
      nlohmann::json overrides = {{"timestep_spacing", spacing}};
      if (fixed_stride) overrides["set_alpha_to_one"] = true;
      auto s = make_scheduler(name, saved, overrides);
      s->set_timesteps(10);
      const int first = 4 * s->order();
      std::vector<float> x = clean;
      s->add_noise(x, eps, first);
      EXPECT_GT(test::max_abs_diff(x, clean), 0.1f) << spacing << ": add_noise added no noise";
      for (int i = first; i < s->iterations(); ++i) s->step(eps, i, x, gen);
      EXPECT_LE(test::max_abs_diff(x, clean), 2e-3f) << spacing;
    }
  }
}

TEST(Denoise, TurboWithoutGuidance) {
  const ModelFixture& f = model_fixture("tiny-sd1");
  const Config extra = Config::load(test::fixture("tiny-sd1/reference_extra.json"));
  const SafetensorsFile tensors =
      SafetensorsFile::open(test::fixture("tiny-sd1/reference_extra.safetensors"));
  ASSERT_EQ(extra.json()["runs"]["turbo_1step"]["args"]["prompt"], f.reference.json()["prompt"]);
  const PipelineFolder folder = PipelineFolder::open(test::fixture("tiny-sd1/model"));
  const Shape in = f.unet.graph->shape(f.unet.sample);
  const UNetGraph net = build_unet(f.unet_cfg, *folder.weights("unet"), 1, int(in[2]), int(in[3]));
  auto exe = f.backend->compile(net.graph);
  const size_t n = size_t(in.numel() / in[0]);
  for (const char* run : {"turbo_1step", "turbo_4step"}) {
    const nlohmann::json& r = extra.json()["runs"][run];
    auto s = make_scheduler("euler_a", Config(r["scheduler"], extra.path()));
    s->set_timesteps(r["args"]["num_inference_steps"].get<int>());
    const std::vector<float> want_t = tensors.get(std::string(run) + "/timesteps").to_f32();
    ASSERT_EQ(s->timesteps().size(), want_t.size());
    for (size_t i = 0; i < want_t.size(); ++i) EXPECT_NEAR(s->timesteps()[i], want_t[i], kTimestepTolerance);

    const std::vector<float> want = tensors.get(std::string(run) + "/latents_per_step").to_f32();
    TorchGenerator gen(7);
    std::vector<float> latents = gen.randn(n);
    const float sigma = float(s->init_noise_sigma());
    for (float& v : latents) v *= sigma;
    float worst = 0;
    denoise(*exe, net, f.unet_cfg, *s, latents, {f.get("text_cond")}, r["args"]["guidance_scale"].get<float>(),
            gen, [&](int i, const std::vector<float>& got) {
              worst = std::max(worst, test::max_abs_diff(got, {want.begin() + long(n) * i,
                                                               want.begin() + long(n) * (i + 1)}));
              return true;
            });
    std::printf("  tiny-sd1  %-16s max abs error %.3g\n", run, worst);
    EXPECT_LE(worst, kLatentTolerance) << run;
  }
}

TEST(Denoise, CancelStopsTheLoop) {
  const ModelFixture& f = model_fixture("tiny-sd1");
  auto s = make_scheduler("ddim", f.pipeline_scheduler_config());
  s->set_timesteps(3);
  const Shape in = f.unet.graph->shape(f.unet.sample);
  std::vector<float> latents(size_t(in.numel() / in[0]), 0.5f);
  std::vector<float> context = f.get("text_uncond"), cond = f.get("text_cond");
  context.insert(context.end(), cond.begin(), cond.end());
  TorchGenerator gen(1);
  int calls = 0;
  EXPECT_EQ(error_code([&] {
              denoise(*f.exe, f.unet, f.unet_cfg, *s, latents, {context}, 7.5f, gen,
                      [&](int, const std::vector<float>&) {
                        ++calls;
                        return false;
                      });
            }),
            ErrorCode::kCancelled);
  EXPECT_EQ(calls, 1);
}

}  // namespace
}  // namespace websd
