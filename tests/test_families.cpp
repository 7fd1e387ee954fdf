// The model families beyond SD 1.x/2.x text-to-image, each against its fixture: SD-Turbo style sampling
// (tiny-sd1/reference_extra: Euler ancestral, trailing spacing, guidance 0), latent-consistency models
// (tiny-lcm: guidance embedding, LCMScheduler) and SDXL (tiny-sdxl: two text encoders, text_time
// conditioning); and which family a folder is, from its configs, with clear errors for the ones websd does
// not run.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>

#include "backends/cpu/cpu_backend.h"
#include "core/error.h"
#include "fixtures.h"
#include "image_parity.h"
#include "io/model_source.h"
#include "io/safetensors.h"
#include "models/unet.h"
#include "models/clip_text_encoder.h"
#include "models/synthetic_source.h"
#include "models/vae.h"
#include "models/unet_embeddings.h"
#include "pipeline/family.h"
#include "pipeline/sdxl_conditioning.h"
#include "pipeline/stable_diffusion.h"
#include "schedulers/scheduler.h"
#include "websd/websd.h"

namespace websd {
namespace {

constexpr float kNetworkTolerance = 1e-4f;  // text encoders, UNet
constexpr float kLatentTolerance = 1e-3f;   // latents after each step, as in test_schedulers

// Reference files, loaded once: "tiny-sd1/reference_extra" -> its json and tensors.
struct Reference {
  Config json;
  SafetensorsFile tensors;
};
const Reference& reference(const std::string& stem) {
  static std::map<std::string, std::unique_ptr<Reference>> cache;
  auto& r = cache[stem];
  if (!r)
    r = std::make_unique<Reference>(Reference{Config::load(test::fixture(stem + ".json")),
                                              SafetensorsFile::open(test::fixture(stem + ".safetensors"))});
  return *r;
}

struct FamilyRun {
  std::string model;      // fixture folder
  std::string reference;  // reference file stem inside it
  std::string run;        // key of reference.json "runs"
  std::string scheduler;  // websd's name; "" = the model's default
  nlohmann::json overrides;
  uint64_t seed;  // fixtures/README.md
};

std::string run_name(const testing::TestParamInfo<FamilyRun>& info) {
  std::string s = info.param.model + "_" + info.param.run;
  for (char& c : s)
    if (c == '-') c = '_';
  return s;
}

class FamilyParity : public testing::TestWithParam<FamilyRun> {
 protected:
  const Reference& ref() const { return reference(GetParam().model + "/" + GetParam().reference); }
  const nlohmann::json& run() const { return ref().json.json()["runs"][GetParam().run]; }
  std::vector<float> tensor(const std::string& key) const {
    return ref().tensors.get(GetParam().run + "/" + key).to_f32();
  }
};

// The sampler websd builds from the model's saved scheduler config (plus the run's overrides) is the one
// diffusers ran: same effective config, same timesteps.
TEST_P(FamilyParity, SchedulerIsTheRuns) {
  const FamilyRun& c = GetParam();
  const Config saved = Config::load(test::fixture(c.model + "/model/scheduler/scheduler_config.json"));
  const std::string name =
      c.scheduler.empty() ? scheduler_name_for_class(saved.get_string("_class_name", "")) : c.scheduler;
  auto s = make_scheduler(name, saved, c.overrides);
  const nlohmann::json& want = run()["scheduler"];
  for (const auto& [key, value] : s->config().json().items()) {
    ASSERT_TRUE(want.contains(key)) << name << " reads " << key << ", which diffusers' class does not have";
    EXPECT_EQ(value, want[key]) << name << "." << key;
  }
  s->set_timesteps(run()["args"]["num_inference_steps"].get<int>());
  const std::vector<float> t = tensor("timesteps");
  ASSERT_EQ(s->timesteps().size(), t.size());
  for (size_t i = 0; i < t.size(); ++i) EXPECT_NEAR(s->timesteps()[i], t[i], 1e-4) << i;
}

// The whole pipeline (conditioning, guidance or its embedding, sampler, VAE) against diffusers' latents after
// every step and its final image.
TEST_P(FamilyParity, LatentsPerStepAndImage) {
  const FamilyRun& c = GetParam();
  const nlohmann::json& args = run()["args"];
  auto sd = StableDiffusion::open(test::fixture(c.model + "/model"), make_cpu_backend());
  GenerateParams p;
  p.prompt = args["prompt"];
  p.negative_prompt =
      args.value("negative_prompt", nlohmann::json()).is_string() ? args["negative_prompt"] : "";
  p.width = args["width"];
  p.height = args["height"];
  p.steps = args["num_inference_steps"];
  p.guidance = args["guidance_scale"];
  p.seed = c.seed;
  p.scheduler = c.scheduler;
  p.scheduler_overrides = c.overrides;
  const std::vector<float> want = tensor("latents_per_step");
  std::vector<float> errors;
  GenerateCallbacks cb;
  cb.on_latents = [&](int, int step, const std::vector<float>& x) {
    const size_t n = x.size(), i = size_t(step - 1);
    ASSERT_LE((i + 1) * n, want.size());
    errors.push_back(test::max_abs_diff(x, {want.begin() + long(i * n), want.begin() + long((i + 1) * n)}));
  };
  const std::vector<RgbImage> images = sd->generate(p, cb);
  std::string per_step;
  for (float e : errors) per_step += (per_step.empty() ? "" : " ") + std::to_string(e).substr(0, 8);
  const float worst = errors.empty() ? INFINITY : *std::max_element(errors.begin(), errors.end());
  std::printf("  %-9s %-13s latents max abs error %.3g (per step: %s)\n", c.model.c_str(), c.run.c_str(),
              worst, per_step.c_str());
  EXPECT_EQ(errors.size() * 4 * size_t(p.width / 8) * size_t(p.height / 8), want.size());
  EXPECT_LE(worst, kLatentTolerance);
  const TensorView& u8 = ref().tensors.get(c.run + "/image_u8");
  ASSERT_EQ(images.size(), 1u);
  test::expect_image_matches(images[0].pixels.data(), images[0].pixels.size(),
                             static_cast<const uint8_t*>(u8.data), size_t(u8.shape.numel()),
                             c.model + " " + c.run);
}

const nlohmann::json kTrailing = {{"timestep_spacing", "trailing"}};

INSTANTIATE_TEST_SUITE_P(
    Fixtures, FamilyParity,
    testing::Values(FamilyRun{"tiny-sd1", "reference_extra", "turbo_1step", "euler_a", kTrailing, 7},
                    FamilyRun{"tiny-sd1", "reference_extra", "turbo_4step", "euler_a", kTrailing, 7},
                    FamilyRun{"tiny-lcm", "reference", "lcm_2step", "", nlohmann::json::object(), 31},
                    FamilyRun{"tiny-lcm", "reference", "lcm_4step", "", nlohmann::json::object(), 31},
                    FamilyRun{"tiny-sdxl", "reference", "euler", "euler", nlohmann::json::object(), 2024},
                    FamilyRun{"tiny-sdxl", "reference", "euler_neg", "euler", nlohmann::json::object(), 2024},
                    FamilyRun{"tiny-sdxl", "reference", "dpmpp_2m", "", nlohmann::json::object(), 2024}),
    run_name);

// reference_extra was made from the tiny-sd1 weights: the UNet reproduces its unet_out_check.
TEST(Turbo, FixtureUsesTinySd1Weights) {
  auto src = open_model_source(test::fixture("tiny-sd1/model"));
  const UNetConfig cfg = UNetConfig::from(src->config("unet"));
  const Reference& base = reference("tiny-sd1/reference");
  const Shape in = base.tensors.get("unet_in").shape;
  auto weights = src->weights("unet");
  auto net = build_unet(cfg, *weights, int(in[0]), int(in[2]), int(in[3]));
  auto exe = make_cpu_backend()->compile(net.graph);
  std::vector<float> time(size_t(in[0]) * size_t(cfg.block_out_channels[0]));
  for (int64_t b = 0; b < in[0]; ++b)
    unet_time_features(cfg, 981.0f, time.data() + b * cfg.block_out_channels[0]);
  exe->set_input(net.sample, base.tensors.get("unet_in").to_f32().data());
  exe->set_input(net.time_proj, time.data());
  exe->set_input(net.context, base.tensors.get("unet_ctx").to_f32().data());
  exe->run();
  std::vector<float> out(size_t(net.graph->shape(net.out).numel()));
  exe->read(net.out, out.data());
  const float err =
      test::max_abs_diff(out, reference("tiny-sd1/reference_extra").tensors.get("unet_out_check").to_f32());
  std::printf("  tiny-sd1  unet_out_check max abs error %.3g\n", err);
  EXPECT_LE(err, kNetworkTolerance);
}

// SD-Turbo style sampling through the C API: the override travels as JSON.
TEST(Turbo, CApiSchedulerConfig) {
  websd_model* model = nullptr;
  ASSERT_EQ(websd_model_open(test::fixture("tiny-sd1/model").c_str(), nullptr, &model), WEBSD_OK)
      << websd_last_error();
  websd_txt2img_params p = websd_txt2img_params_default();
  p.prompt = "a photo of an astronaut riding a horse on mars";
  p.width = p.height = 64;
  p.steps = 4;
  p.guidance = 0;
  p.seed = 7;
  p.scheduler = "euler_a";
  p.scheduler_config = R"({"timestep_spacing": "trailing"})";
  websd_image img{};
  ASSERT_EQ(websd_txt2img(model, &p, &img, 1), WEBSD_OK) << websd_last_error();
  const TensorView& want = reference("tiny-sd1/reference_extra").tensors.get("turbo_4step/image_u8");
  test::expect_image_matches(img.data, size_t(img.width * img.height * 3),
                             static_cast<const uint8_t*>(want.data), size_t(want.shape.numel()),
                             "C API turbo_4step");
  websd_image_free(&img);

  p.scheduler_config = "trailing";
  EXPECT_EQ(websd_txt2img(model, &p, &img, 1), WEBSD_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(websd_last_error()).find("JSON object"), std::string::npos) << websd_last_error();
  p.scheduler_config = R"({"timestep_spacing": "sideways"})";
  EXPECT_EQ(websd_txt2img(model, &p, &img, 1), WEBSD_ERROR_UNSUPPORTED);
  EXPECT_NE(std::string(websd_last_error()).find("sideways"), std::string::npos) << websd_last_error();
  p.scheduler = "lcm";
  p.scheduler_config = R"({"timestep_spacing": "trailing"})";
  EXPECT_EQ(websd_txt2img(model, &p, &img, 1), WEBSD_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(websd_last_error()).find("lcm has no setting \"timestep_spacing\""),
            std::string::npos)
      << websd_last_error();
  std::printf("  error as expected: %s\n", websd_last_error());
  websd_model_free(model);
}

// encode_prompt's outputs: prompt_embeds (penultimate states of both encoders side by side), the second
// encoder's pooled projection, and zeros for both when there is no negative prompt.
TEST(Sdxl, ConditioningMatchesEncodePrompt) {
  auto src = open_model_source(test::fixture("tiny-sdxl/model"));
  const UNetConfig unet = UNetConfig::from(src->config("unet"));
  std::shared_ptr<Backend> backend = make_cpu_backend();
  auto conditioner = make_sdxl_conditioner(
      backend, ClipTextComponent::load(*src, "text_encoder", "tokenizer"),
      ClipTextComponent::load(*src, "text_encoder_2", "tokenizer_2"), unet, true, nullptr);
  const Reference& ref = reference("tiny-sdxl/reference");
  const std::string prompt = ref.json.json()["runs"]["euler"]["args"]["prompt"];
  const UNetConditioning c = conditioner->encode(prompt, "", /*guided=*/true, 64, 64, /*literal=*/false);

  const size_t ctx = c.context.size() / 2, added = c.added.size() / 2, P = 32;
  ASSERT_EQ(ctx, size_t(77 * 64));
  ASSERT_EQ(added, size_t(unet.projection_class_embeddings_input_dim));
  auto check = [](const std::vector<float>& got, const std::vector<float>& want, const char* what) {
    const float err = test::max_abs_diff(got, want);
    std::printf("  tiny-sdxl %-30s max abs error %.3g\n", what, err);
    EXPECT_LE(err, kNetworkTolerance) << what;
  };
  check({c.context.begin(), c.context.begin() + long(ctx)},
        ref.tensors.get("negative_prompt_embeds").to_f32(), "negative_prompt_embeds");
  check({c.context.begin() + long(ctx), c.context.end()}, ref.tensors.get("prompt_embeds").to_f32(),
        "prompt_embeds");
  check({c.added.begin(), c.added.begin() + long(P)},
        ref.tensors.get("negative_pooled_prompt_embeds").to_f32(), "negative_pooled_prompt_embeds");
  check({c.added.begin() + long(added), c.added.begin() + long(added + P)},
        ref.tensors.get("pooled_prompt_embeds").to_f32(), "pooled_prompt_embeds");
  // Both entries carry the time ids of a 64x64 image: [64, 64, 0, 0, 64, 64].
  std::vector<float> ids(6 * size_t(unet.addition_time_embed_dim));
  const std::array<float, 6> want_ids{64, 64, 0, 0, 64, 64};
  for (size_t k = 0; k < 6; ++k)
    timestep_features(want_ids[k], unet.addition_time_embed_dim, true, 0,
                      ids.data() + k * size_t(unet.addition_time_embed_dim));
  EXPECT_EQ(std::vector<float>(c.added.begin() + long(P), c.added.begin() + long(added)), ids);
  EXPECT_EQ(std::vector<float>(c.added.begin() + long(added + P), c.added.end()), ids);

  // Without classifier-free guidance: the conditional entry alone. A negative prompt is encoded, not zeroed.
  // (Batches of one and two may round differently: a threaded BLAS blocks them differently.)
  const UNetConditioning single = conditioner->encode(prompt, "", false, 64, 64, false);
  EXPECT_LE(test::max_abs_diff(single.context, {c.context.begin() + long(ctx), c.context.end()}), 1e-5f);
  const UNetConditioning negative = conditioner->encode(prompt, "blurry", true, 64, 64, false);
  EXPECT_NE(negative.context[0], 0.0f);
  EXPECT_LE(test::max_abs_diff({negative.context.begin() + long(ctx), negative.context.end()}, single.context), 1e-5f);
}

// transformers pools CLIPTextModelWithProjection at the first eos_token_id; configs that still carry the old
// eos_token_id 2 (real SDXL checkpoints) take the argmax of the ids instead, which is the same first eos.
TEST(Sdxl, PooledPosition) {
  ClipTextConfig cfg;
  const std::vector<int32_t> pad_bang{49406, 320, 1929, 49407, 0, 0, 0};
  const std::vector<int32_t> pad_eos{49406, 320, 49407, 49407, 49407};
  EXPECT_EQ(clip_pooled_position(cfg, pad_bang), 3);
  EXPECT_EQ(clip_pooled_position(cfg, pad_eos), 2);
  cfg.eos_token_id = 2;
  EXPECT_EQ(clip_pooled_position(cfg, pad_bang), 3);
  EXPECT_EQ(clip_pooled_position(cfg, pad_eos), 2);
}

// The guidance embedding as LatentConsistencyModelPipeline computes it for w = 8 - 1: sin of the first half,
// cos of the second, frequencies 10000^(-i / (half - 1)).
TEST(Lcm, GuidanceEmbedding) {
  float e[32];
  guidance_scale_embedding(7.0, 32, e);
  EXPECT_NEAR(e[0], std::sin(7000.0), 1e-3);
  EXPECT_NEAR(e[16], std::cos(7000.0), 1e-3);
  EXPECT_NEAR(e[15], std::sin(7000.0 * std::pow(10000.0, -1.0)), 1e-5);
  EXPECT_NEAR(e[31], std::cos(7000.0 * std::pow(10000.0, -1.0)), 1e-5);
}

// ---- Which family a folder is ----

TEST(Families, DetectedFromConfigs) {
  const std::pair<const char*, const char*> kCases[] = {
      {"tiny-sd1", "sd1"}, {"tiny-sd2", "sd2"}, {"tiny-sdxl", "sdxl"}, {"tiny-lcm", "sd1-lcm"}};
  for (auto [model, family] : kCases) {
    websd_model* m = nullptr;
    ASSERT_EQ(websd_model_open(test::fixture(std::string(model) + "/model").c_str(), nullptr, &m), WEBSD_OK)
        << websd_last_error();
    EXPECT_STREQ(websd_model_family(m), family) << model;
    EXPECT_EQ(websd_model_native_width(m), 64) << model;
    websd_model_free(m);
  }
  const ModelFamily lcm = detect_family(*open_model_source(test::fixture("tiny-lcm/model")));
  EXPECT_EQ(lcm.pipeline_class, "LatentConsistencyModelPipeline");
  EXPECT_TRUE(lcm.guidance_embedding);
  const ModelFamily xl = detect_family(*open_model_source(test::fixture("tiny-sdxl/model")));
  EXPECT_EQ(xl.kind, PipelineKind::kStableDiffusionXL);
  EXPECT_FALSE(xl.guidance_embedding);
}

// A pipeline folder in the temp dir: model_index.json as given, each component a link to `base`'s.
std::string pipeline_folder(const std::string& name, const std::string& base, const nlohmann::json& index) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("websd_families_" + name);
  fs::remove_all(dir);
  fs::create_directories(dir);
  if (!base.empty())
    for (const auto& e : fs::directory_iterator(test::fixture(base + "/model")))
      if (e.is_directory()) fs::create_directory_symlink(e.path(), dir / e.path().filename());
  std::ofstream(dir / "model_index.json") << index.dump(2);
  return dir.string();
}

nlohmann::json index_of(const std::string& base, const std::string& cls) {
  std::ifstream f(test::fixture(base + "/model/model_index.json"));
  nlohmann::json j = nlohmann::json::parse(f);
  j["_class_name"] = cls;
  return j;
}

// websd_model_open fails with `status` and a message that names every needle.
void expect_open_error(const std::string& path, websd_status status,
                       std::initializer_list<std::string> needles) {
  websd_model* m = nullptr;
  EXPECT_EQ(websd_model_open(path.c_str(), nullptr, &m), status) << path;
  EXPECT_EQ(m, nullptr);
  const std::string msg = websd_last_error();
  for (const auto& n : needles)
    EXPECT_NE(msg.find(n), std::string::npos) << "missing \"" << n << "\" in: " << msg;
  std::printf("  error as expected: %s\n", msg.c_str());
}

// Inpainting models are told by their UNet (9 input channels), under the inpainting class or the text-to-image
// one; the inpainting class with a text-to-image UNet is refused with what it needs.
TEST(Families, InpaintingModelsAreToldByTheirUNet) {
  for (const std::string& path :
       {test::fixture("tiny-inpaint/model"),
        pipeline_folder("inpaint_unet", "tiny-inpaint", index_of("tiny-inpaint", "StableDiffusionPipeline"))}) {
    websd_model* m = nullptr;
    ASSERT_EQ(websd_model_open(path.c_str(), nullptr, &m), WEBSD_OK) << websd_last_error();
    EXPECT_STREQ(websd_model_family(m), "sd1-inpaint") << path;
    websd_model_free(m);
  }
  expect_open_error(
      pipeline_folder("inpaint_class_txt2img_unet", "tiny-sd1", index_of("tiny-sd1", "StableDiffusionInpaintPipeline")),
      WEBSD_ERROR_UNSUPPORTED, {"unet/config.json", "in_channels", "StableDiffusionInpaintPipeline", "9 input channels"});
}

TEST(Families, UnsupportedOnesAreNamed) {
  expect_open_error(
      pipeline_folder("sd3", "",
                      {{"_class_name", "StableDiffusion3Pipeline"},
                       {"transformer", {"diffusers", "SD3Transformer2DModel"}},
                       {"text_encoder_3", {"transformers", "T5EncoderModel"}},
                       {"vae", {"diffusers", "AutoencoderKL"}}}),
      WEBSD_ERROR_UNSUPPORTED,
      {"StableDiffusion3Pipeline", "Stable Diffusion 3", "transformer (SD3Transformer2DModel)"});
  expect_open_error(pipeline_folder("flux", "",
                                    {{"_class_name", "FluxPipeline"},
                                     {"transformer", {"diffusers", "FluxTransformer2DModel"}}}),
                    WEBSD_ERROR_UNSUPPORTED, {"FluxPipeline", "Flux", "FluxTransformer2DModel"});
  expect_open_error(pipeline_folder("unknown", "tiny-sd1", index_of("tiny-sd1", "MyCustomPipeline")),
                    WEBSD_ERROR_UNSUPPORTED, {"MyCustomPipeline", "websd runs StableDiffusionPipeline"});
  // Configs that contradict the pipeline class.
  expect_open_error(
      pipeline_folder("sdxl_as_sd", "tiny-sdxl", index_of("tiny-sdxl", "StableDiffusionPipeline")),
      WEBSD_ERROR_UNSUPPORTED, {"unet/config.json", "addition_embed_type", "text_time"});
  expect_open_error(
      pipeline_folder("sd_as_lcm", "tiny-sd1", index_of("tiny-sd1", "LatentConsistencyModelPipeline")),
      WEBSD_ERROR_UNSUPPORTED, {"unet/config.json", "time_cond_proj_dim"});
  expect_open_error(
      pipeline_folder("sd_as_sdxl", "tiny-sd1", index_of("tiny-sd1", "StableDiffusionXLPipeline")),
      WEBSD_ERROR_CORRUPT_FILE, {"text_encoder_2"});
}

}  // namespace
}  // namespace websd

namespace websd {
namespace {

// The synthetic models the GPU benchmarks generate with describe exactly the named architectures: their configs
// read back into the same networks, and the pipeline takes them for the right family.
TEST(SyntheticModels, ConfigsDescribeTheArchitecture) {
  for (const auto& [name, family] : std::vector<std::pair<std::string, std::string>>{
           {"sd15", "sd1"}, {"sd21", "sd2"}, {"sdxl", "sdxl"}}) {
    const Architecture arch = architecture(name);
    auto src = synthetic_model_source(arch, test::fixture("clip-tokenizer"));
    EXPECT_EQ(detect_family(*src).name, family) << name;
    const UNetConfig u = UNetConfig::from(src->config("unet"));
    EXPECT_EQ(u.block_out_channels, arch.unet.block_out_channels) << name;
    EXPECT_EQ(u.heads, arch.unet.heads) << name;
    EXPECT_EQ(u.transformer_layers, arch.unet.transformer_layers) << name;
    EXPECT_EQ(u.cross_attention_dim, arch.unet.cross_attention_dim) << name;
    EXPECT_EQ(u.use_linear_projection, arch.unet.use_linear_projection) << name;
    EXPECT_EQ(u.text_time, arch.unet.text_time) << name;
    EXPECT_EQ(u.projection_class_embeddings_input_dim, arch.unet.projection_class_embeddings_input_dim) << name;
    const VaeConfig v = VaeConfig::from(src->config("vae"));
    EXPECT_EQ(v.block_out_channels, arch.vae.block_out_channels) << name;
    EXPECT_EQ(v.scaling_factor, arch.vae.scaling_factor) << name;
    for (size_t i = 0; i < arch.text_encoders.size(); ++i) {
      const ClipTextConfig t = ClipTextConfig::from(src->config(i ? "text_encoder_2" : "text_encoder"));
      EXPECT_EQ(t.hidden_size, arch.text_encoders[i].hidden_size) << name;
      EXPECT_EQ(t.num_layers, arch.text_encoders[i].num_layers) << name;
      EXPECT_EQ(t.act, arch.text_encoders[i].act) << name;
      EXPECT_EQ(t.projection_dim, arch.text_encoders[i].projection_dim) << name;
    }
  }
  EXPECT_THROW(synthetic_model_source(architecture("sd15"), "/nonexistent"), Error);
}

}  // namespace
}  // namespace websd
