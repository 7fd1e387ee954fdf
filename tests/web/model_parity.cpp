// Rungs 3 and 5 of the correctness ladder on the webgpu backend: the tiny models' text encoder, UNet and VAE
// against what diffusers computed (max absolute error), and whole txt2img runs against diffusers' images
// (levels), through the C API exactly as apps use it: SD 1.x/2.x, SD-Turbo style sampling, LCM and SDXL; img2img
// and inpainting; LoRA and textual inversion; TAESD; weighted long prompts (against the cpu backend). Prints every number; the job's status is the failure count.
#include <emscripten/emscripten.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "backends/cpu/cpu_backend.h"
#include "backends/webgpu/kernel_choice.h"
#include "backends/webgpu/webgpu_backend.h"
#include "image_diff.h"
#include "io/pipeline_folder.h"
#include "io/safetensors.h"
#include "models/clip_text_encoder.h"
#include "models/unet.h"
#include "models/vae.h"
#include "embedding_runs.h"
#include "image_runs.h"
#include "controlnet_runs.h"
#include "lora_runs.h"
#include "cpu_runs.h"
#include "taesd_runs.h"
#include "pipeline/stable_diffusion.h"
#include "pipeline/text_conditioning.h"
#include "wasm/host_channel.h"
#include "websd/websd.h"

namespace websd {
namespace {

constexpr float kNetworkTolerance = 1e-3f;  // the issue's bar for networks on the GPU

class Checker {
 public:
  void network(const std::string& what, const std::vector<float>& got, const std::vector<float>& want) {
    float err = got.size() == want.size() ? 0.0f : INFINITY;
    for (size_t i = 0; i < std::min(got.size(), want.size()); ++i) {
      const float d = std::fabs(got[i] - want[i]);
      if (!(d <= err)) err = std::isnan(d) ? INFINITY : d;
    }
    record(err <= kNetworkTolerance, what, "max abs error " + format(err) + " (tolerance 1e-3)");
  }

  void image(const std::string& what, const websd_image& img, const TensorView& want) {
    image(what, img, want.bytes());  // the wasm build reads files instead of mapping them
  }
  void image(const std::string& what, const websd_image& img, const std::vector<uint8_t>& want) {
    const test::ImageDiff d = test::image_diff(img.data, size_t(img.width) * size_t(img.height) * 3, want.data(), want.size());
    record(d.matches(), what,
           "max diff " + std::to_string(d.worst) + " levels, " + std::to_string(d.over1) + " of " + std::to_string(d.n) +
               " values off by more than 1");
  }

  void record(bool ok, const std::string& what, const std::string& detail) {
    std::printf("  %-4s %-34s %s\n", ok ? "ok" : "FAIL", what.c_str(), detail.c_str());
    (ok ? passed_ : failed_)++;
  }

  int failed() const { return failed_; }
  int passed() const { return passed_; }

 private:
  static std::string format(float v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.3g", double(v));
    return buf;
  }
  int passed_ = 0, failed_ = 0;
};

// reference.json is written by Python (with -Infinity); Config reads that dialect.
nlohmann::json reference_json(const std::string& path) { return Config::load(path).json(); }

// `model`: the model's name in the report.
void check_networks(Backend& gpu, const std::string& dir, const std::string& model, Checker& check) {
  auto folder = PipelineFolder::open(dir + "/model");
  auto ref = SafetensorsFile::open(dir + "/reference.safetensors");
  auto tensor = [&](const char* name) { return ref.get(name).to_f32(); };
  {
    auto weights = folder.weights("text_encoder");
    auto net = build_clip_text_encoder(ClipTextConfig::from(folder.config("text_encoder")), *weights, 2);
    auto exe = gpu.compile(net.graph);
    std::vector<int32_t> ids;
    for (const char* key : {"prompt_ids", "negative_ids"}) {
      const TensorView& t = ref.get(key);
      const std::vector<uint8_t> bytes = t.bytes();
      const int32_t* p = reinterpret_cast<const int32_t*>(bytes.data());
      ids.insert(ids.end(), p, p + t.shape.numel());
    }
    exe->set_input(net.ids, ids.data());
    exe->run();
    std::vector<float> out(size_t(net.graph->shape(net.last_hidden).numel()));
    exe->read(net.last_hidden, out.data());
    const long half = long(out.size() / 2);
    check.network(model + " text_cond", {out.begin(), out.begin() + half}, tensor("text_cond"));
    check.network(model + " text_uncond", {out.begin() + half, out.end()}, tensor("text_uncond"));
  }
  {
    auto weights = folder.weights("unet");
    const UNetConfig cfg = UNetConfig::from(folder.config("unet"));
    const Shape in = ref.get("unet_in").shape;
    auto net = build_unet(cfg, *weights, int(in[0]), int(in[2]), int(in[3]));
    auto exe = gpu.compile(net.graph);
    for (auto [t, in_key, out_key] : {std::tuple{981.0f, "unet_in", "unet_out"}, {17.0f, "unet_in_t17", "unet_out_t17"}}) {
      std::vector<float> tp(size_t(in[0]) * size_t(cfg.block_out_channels[0]));
      for (int64_t b = 0; b < in[0]; ++b) unet_time_features(cfg, t, tp.data() + b * cfg.block_out_channels[0]);
      exe->set_input(net.sample, tensor(in_key).data());
      exe->set_input(net.time_proj, tp.data());
      exe->set_input(net.context, tensor("unet_ctx").data());
      exe->run();
      std::vector<float> out(size_t(net.graph->shape(net.out).numel()));
      exe->read(net.out, out.data());
      check.network(model + " " + out_key, out, tensor(out_key));
    }
  }
  {
    auto weights = folder.weights("vae");
    const VaeConfig cfg = VaeConfig::from(folder.config("vae"));
    const Shape in = ref.get("vae_in").shape;
    auto net = build_vae_decoder(cfg, *weights, int(in[0]), int(in[2]), int(in[3]));
    auto exe = gpu.compile(net.graph);
    std::vector<float> z = tensor("vae_in");
    for (auto& v : z) v /= cfg.scaling_factor;
    exe->set_input(net.latents, z.data());
    exe->run();
    std::vector<float> out(size_t(net.graph->shape(net.image).numel()));
    exe->read(net.image, out.data());
    check.network(model + " vae_out", out, tensor("vae_out"));
  }
}

// A fixture model opened on the webgpu backend through the C API; null (recorded as a failure) if it does not open.
websd_model* open_on_gpu(const std::string& dir, const std::string& model, Checker& check) {
  websd_model_params mp = websd_model_params_default();
  mp.backend = "webgpu";
  websd_model* m = nullptr;
  if (websd_model_open((dir + "/model").c_str(), &mp, &m) == WEBSD_OK) return m;
  check.record(false, model + " open", websd_last_error());
  return nullptr;
}

// One txt2img with a reference's arguments under diffusers' names (reference.json says "steps", the runs of the
// other families "num_inference_steps"), checked against diffusers' image.
void check_txt2img(Checker& check, websd_model* m, const std::string& what, const nlohmann::json& args,
                   uint64_t seed, const char* scheduler, const char* overrides, const TensorView& want) {
  const std::string prompt = args["prompt"];
  const std::string negative = args.value("negative_prompt", nlohmann::json()).is_string() ? args["negative_prompt"] : "";
  websd_txt2img_params p = websd_txt2img_params_default();
  p.prompt = prompt.c_str();
  p.negative_prompt = negative.c_str();
  p.width = args["width"];
  p.height = args["height"];
  p.steps = args.contains("num_inference_steps") ? args["num_inference_steps"] : args["steps"];
  p.guidance = args["guidance_scale"];
  p.seed = seed;
  p.scheduler = scheduler;
  p.scheduler_config = overrides;
  websd_image img{};
  if (websd_txt2img(m, &p, &img, 1) != WEBSD_OK) {
    check.record(false, what, websd_last_error());
    return;
  }
  check.image(what, img, want);
  websd_image_free(&img);
}

void check_images(const std::string& dir, const std::string& model, const std::vector<std::string>& schedulers,
                  Checker& check) {
  const nlohmann::json ref = reference_json(dir + "/reference.json");
  auto tensors = SafetensorsFile::open(dir + "/reference.safetensors");
  websd_model* m = open_on_gpu(dir, model, check);
  if (!m) return;
  for (const std::string& s : schedulers)
    check_txt2img(check, m, model + " txt2img " + s, ref, ref["seed"], s.c_str(), nullptr,
                  tensors.get(s + "/image_u8"));
  websd_model_free(m);
}

// The other families' runs, as tests/test_families.cpp runs them on the cpu backend: SD-Turbo style sampling
// on tiny-sd1, a latent-consistency model, SDXL.
struct FamilyRun {
  const char* model;      // fixture folder
  const char* reference;  // reference file stem inside it
  const char* run;        // key of its "runs"
  const char* scheduler;  // websd's name; "" = the model's default
  const char* overrides;  // scheduler config JSON
  uint64_t seed;          // fixtures/README.md
};
constexpr const char* kTrailing = R"({"timestep_spacing": "trailing"})";
constexpr FamilyRun kFamilyRuns[] = {
    {"tiny-sd1", "reference_extra", "turbo_1step", "euler_a", kTrailing, 7},
    {"tiny-sd1", "reference_extra", "turbo_4step", "euler_a", kTrailing, 7},
    {"tiny-lcm", "reference", "lcm_2step", "", "{}", 31},
    {"tiny-lcm", "reference", "lcm_4step", "", "{}", 31},
    {"tiny-sdxl", "reference", "euler", "euler", "{}", 2024},
    {"tiny-sdxl", "reference", "euler_neg", "euler", "{}", 2024},
    {"tiny-sdxl", "reference", "dpmpp_2m", "", "{}", 2024},
};

void check_family_runs(const std::string& fixtures, const std::string& filter, Checker& check) {
  std::string open_model;
  websd_model* m = nullptr;
  for (const FamilyRun& r : kFamilyRuns) {
    const std::string model = r.model, what = model + " " + r.run;
    if (!filter.empty() && what.find(filter) == std::string::npos) continue;
    const std::string dir = fixtures + "/" + model;
    if (open_model != model) {  // runs of one model are listed together: open each once
      websd_model_free(m);
      open_model = model;
      m = open_on_gpu(dir, model, check);
    }
    if (!m) continue;
    const nlohmann::json args = reference_json(dir + "/" + r.reference + ".json")["runs"][r.run]["args"];
    auto tensors = SafetensorsFile::open(dir + "/" + r.reference + ".safetensors");
    check_txt2img(check, m, what, args, r.seed, *r.scheduler ? r.scheduler : nullptr, r.overrides,
                  tensors.get(std::string(r.run) + "/image_u8"));
  }
  websd_model_free(m);
}

// img2img and inpainting on the GPU: diffusers' StableDiffusionImg2ImgPipeline and StableDiffusionInpaintPipeline
// runs (image_runs.h), through the engine's own API because their init images are float (the C API takes 8-bit
// images).
void check_image_runs(const std::string& fixtures, const std::string& filter, Checker& check) {
  std::string open_model;
  std::unique_ptr<StableDiffusion> sd;
  for (const test::ImageRun& r : test::kImageRuns) {
    const std::string what = std::string(r.model) + " " + r.run, dir = fixtures + "/" + r.model;
    if (!filter.empty() && what.find(filter) == std::string::npos) continue;
    const std::string stem = dir + "/" + r.reference;
    if (!std::ifstream(stem + ".json")) {  // a device bundle carries only some fixtures
      std::printf("  skip %s (no %s here)\n", what.c_str(), r.model);
      continue;
    }
    try {
      const nlohmann::json args = reference_json(stem + ".json")["runs"][r.run]["args"];
      auto tensors = SafetensorsFile::open(stem + ".safetensors");
      if (open_model != r.model) {
        open_model = r.model;
        sd = StableDiffusion::open(dir + "/model", make_webgpu_backend());
      }
      RgbImage out = sd->generate(test::image_run_params(r, args, tensors)).at(0);
      check.image(what, websd_image{out.width, out.height, 3, out.pixels.data()},
                  tensors.get(std::string(r.run) + "/image_u8"));
    } catch (const std::exception& e) {
      check.record(false, what, e.what());
    }
  }
}

// LoRA (tiny-sd1-creative): the networks with each run's LoRA merged and applied at run time (both namings, two
// scales), and the first run whole (the others differ from it only in what the networks check; a whole run costs minutes on SwiftShader).
void check_lora_runs(const std::string& fixtures, const std::string& filter, Backend& gpu, Checker& check) {
  const std::string creative = fixtures + "/tiny-sd1-creative";
  if (!std::ifstream(creative + "/reference.json")) {  // a device bundle carries only some fixtures
    std::printf("  skip LoRA runs (no tiny-sd1-creative here)\n");
    return;
  }
  std::unique_ptr<StableDiffusion> sd;
  for (const test::LoraRun& r : test::kLoraRuns) {
    const std::string what = std::string("tiny-sd1 ") + r.run;
    if (!filter.empty() && what.find(filter) == std::string::npos) continue;
    try {
      const auto ref = SafetensorsFile::open(creative + "/reference.safetensors");
      for (LoraMode mode : {LoraMode::kMerged, LoraMode::kRunTime}) {
        const test::LoraNetworkOutputs got = test::lora_network_outputs(gpu, fixtures, r, mode);
        const std::string how = mode == LoraMode::kRunTime ? " runtime" : "";
        check.network(what + how + " text_ctx", got.text_ctx, ref.get(std::string(r.run) + "/text_ctx").to_f32());
        check.network(what + how + " unet_out", got.unet_out, ref.get(std::string(r.run) + "/unet_out").to_f32());
      }
      if (!sd) sd = StableDiffusion::open(fixtures + "/tiny-sd1/model", make_webgpu_backend());
      const nlohmann::json run = reference_json(creative + "/reference.json")["runs"][r.run];
      RgbImage out = sd->generate(test::lora_run_params(run, r, creative)).at(0);
      check.image(what, websd_image{out.width, out.height, 3, out.pixels.data()},
                  ref.get(std::string(r.run) + "/image_u8"));
    } catch (const std::exception& e) {
      check.record(false, what, e.what());
    }
  }
}

// ControlNet (tiny-sd1-creative/controlnet): its residuals alone, and both runs whole (scales 1 and 0.5).
void check_controlnet_runs(const std::string& fixtures, const std::string& filter, Backend& gpu, Checker& check) {
  const std::string creative = fixtures + "/tiny-sd1-creative";
  if (!std::ifstream(creative + "/controlnet/config.json")) {
    std::printf("  skip ControlNet runs (no tiny-sd1-creative/controlnet here)\n");
    return;
  }
  const std::string what = "tiny-sd1 controlnet";
  if (!filter.empty() && std::string("tiny-sd1 controlnet_pndm controlnet_euler_a_half").find(filter) == std::string::npos)
    return;
  try {
    const auto ref = SafetensorsFile::open(creative + "/reference.safetensors");
    const auto got = test::controlnet_residuals(gpu, fixtures);
    for (size_t i = 0; i < got.size(); ++i) {
      const std::string name = test::controlnet_residual_name(i, got.size());
      check.network(what + " " + name.substr(name.find('/') + 1), got[i], ref.get(name).to_f32());
    }
    auto sd = StableDiffusion::open(fixtures + "/tiny-sd1/model", make_webgpu_backend());
    const nlohmann::json runs = reference_json(creative + "/reference.json")["runs"];
    for (const test::ControlRun& r : test::kControlRuns) {
      RgbImage out = sd->generate(test::control_run_params(runs[r.run], r, creative, ref)).at(0);
      check.image(std::string("tiny-sd1 ") + r.run, websd_image{out.width, out.height, 3, out.pixels.data()},
                  ref.get(std::string(r.run) + "/image_u8"));
    }
  } catch (const std::exception& e) {
    check.record(false, what, e.what());
  }
}

// diffusers' textual inversion run (embedding_runs.h): the text encoder with the embedding, and the image.
void check_embedding_run(const std::string& fixtures, const std::string& filter, Backend& gpu, Checker& check) {
  const std::string creative = fixtures + "/tiny-sd1-creative", what = std::string("tiny-sd1 ") + test::kEmbeddingRun;
  if (!std::ifstream(creative + "/reference.json") || (!filter.empty() && what.find(filter) == std::string::npos))
    return;
  try {
    const auto ref = SafetensorsFile::open(creative + "/reference.safetensors");
    check.network(what + " text_cond", test::embedding_text_cond(gpu, fixtures), ref.get("ti/text_cond").to_f32());
    auto sd = StableDiffusion::open(fixtures + "/tiny-sd1/model", make_webgpu_backend());
    const nlohmann::json run = reference_json(creative + "/reference.json")["runs"][test::kEmbeddingRun];
    RgbImage out = sd->generate(test::embedding_run_params(run, creative)).at(0);
    check.image(what, websd_image{out.width, out.height, 3, out.pixels.data()},
                ref.get(std::string(test::kEmbeddingRun) + "/image_u8"));
  } catch (const std::exception& e) {
    check.record(false, what, e.what());
  }
}

// TAESD (taesd_runs.h): its decoder and encoder, and the tiny-sd1 run whose final image it decodes.
void check_taesd(const std::string& fixtures, const std::string& filter, Checker& check) {
  const std::string what = "tiny-taesd";
  if (!std::ifstream(fixtures + "/tiny-taesd/reference.json") ||
      (!filter.empty() && what.find(filter) == std::string::npos && filter.find(what) == std::string::npos))
    return;
  try {
    std::shared_ptr<Backend> gpu = make_webgpu_backend();
    const auto ref = SafetensorsFile::open(fixtures + "/tiny-taesd/reference.safetensors");
    check.network(what + " decoded", test::taesd_decoded(gpu, fixtures), ref.get("decoded").to_f32());
    check.network(what + " encoded", test::taesd_encoded(*gpu, fixtures), ref.get("encoded").to_f32());
    RgbImage out = StableDiffusion::open(fixtures + "/tiny-sd1/model", gpu)->generate(test::taesd_run_params(fixtures)).at(0);
    check.image(what + " pndm", websd_image{out.width, out.height, 3, out.pixels.data()}, ref.get("pndm/image_u8"));
  } catch (const std::exception& e) {
    check.record(false, what, e.what());
  }
}

// The runs diffusers has no reference for (cpu_runs.h), against the cpu backend: a weighted prompt of two chunks (its
// conditioning too), inpainting with the regular UNet and a hires fix.
void check_cpu_runs(const std::string& fixtures, const std::string& filter, Checker& check) {
  const std::string model = fixtures + "/tiny-sd1/model";
  std::shared_ptr<Backend> cpu = make_cpu_backend(), gpu = make_webgpu_backend();
  const auto against_cpu = [&](const std::string& what, const GenerateParams& p) {
    const RgbImage want = StableDiffusion::open(model, cpu)->generate(p).at(0);
    RgbImage got = StableDiffusion::open(model, gpu)->generate(p).at(0);
    check.image(what + " (against cpu)", websd_image{got.width, got.height, 3, got.pixels.data()}, want.pixels);
  };
  for (const std::string what : {"tiny-sd1 long weighted prompt", "tiny-sd1 inpaint 4-channel", "tiny-sd1 hires fix"}) {
    if (!filter.empty() && what.find(filter) == std::string::npos) continue;
    try {
      if (what != "tiny-sd1 long weighted prompt") {
        against_cpu(what, what == "tiny-sd1 hires fix" ? test::hires_params() : test::regular_inpaint_params());
        continue;
      }
      const GenerateParams p = test::long_prompt_params();
      const ClipTextComponent text = ClipTextComponent::load(*open_model_source(model), "text_encoder", "tokenizer");
      const auto condition = [&](std::shared_ptr<Backend> b) {
        return make_clip_conditioner(b, text, nullptr)->encode(p.prompt, p.negative_prompt, true, 64, 64, false).context;
      };
      check.network(what + " conditioning", condition(gpu), condition(cpu));
      against_cpu(what, p);
    } catch (const std::exception& e) {
      check.record(false, what, e.what());
    }
  }
}

int32_t run_models(const std::string& fixtures, const std::string& filter, std::string& message) {
  auto gpu = make_webgpu_backend();
  std::printf("model parity on %s\n", gpu->name().c_str());
  Checker check;
  for (const std::string model : {"tiny-sd1", "tiny-sd2"}) {
    if (!filter.empty() && model.find(filter) == std::string::npos) continue;
    const std::string dir = fixtures + "/" + model;
    check_networks(*gpu, dir, model, check);
    if (model == "tiny-sd1") {
      // On a software adapter (SwiftShader) the automatic choice takes the barrier-free kernels; the networks
      // once more under a GPU's rules keep those kernels checked on whole models too (each variant is also
      // checked op by op by the harness).
      webgpu::set_kernel_choice("software=0");
      check_networks(*gpu, dir, model + " (gpu rules)", check);
      webgpu::set_kernel_choice("");
    }
    check_images(dir, model, {"pndm", "euler_a", "dpmpp_2m"}, check);
  }
  check_family_runs(fixtures, filter, check);
  check_image_runs(fixtures, filter, check);
  check_lora_runs(fixtures, filter, *gpu, check);
  check_embedding_run(fixtures, filter, *gpu, check);
  check_controlnet_runs(fixtures, filter, *gpu, check);
  check_cpu_runs(fixtures, filter, check);
  check_taesd(fixtures, filter, check);
  std::printf("model parity: %d passed, %d failed\n", check.passed(), check.failed());
  if (check.failed()) message = std::to_string(check.failed()) + " model checks failed";
  if (check.passed() + check.failed() == 0) {
    message = "no model matches '" + filter + "'";
    return 1;
  }
  return check.failed();
}

}  // namespace
}  // namespace websd

extern "C" {

// Job: parity of the tiny models under `fixtures` (whose name contains `filter`; "" = all).
EMSCRIPTEN_KEEPALIVE void websd_webtest_models(const char* fixtures, const char* filter) {
  const std::string root = fixtures, f = filter ? filter : "";
  websd::wasm::start_job([root, f](std::string& message) { return websd::run_models(root, f, message); });
}

}  // extern "C"
