// Benchmarks of real architectures (synthesized f16 weights, no files) on the webgpu or cpu backend of this module,
// for js/bench-node.mjs: `websd_wasm_bench` times each network (one at a time is built, compiled with its weights
// uploaded, timed and freed, so the wasm heap holds one network's weights at most); `websd_wasm_bench_generate`
// times whole generations; `websd_wasm_bench_model_*` keep one synthetic model open across calls, so that the host
// can tell what each generation costs (js/bench-node.mjs --lora-rank: using and switching LoRAs).
#include <emscripten/emscripten.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <sstream>
#include <string>

#include "adapters/lora.h"
#include "backends/cpu/cpu_backend.h"
#include "backends/network_timing.h"
#include "backends/profile_report.h"
#include "backends/webgpu/kernel_choice.h"
#include "backends/webgpu/webgpu_backend.h"
#include "core/error.h"
#include "io/model_source.h"
#include "models/architectures.h"
#include "models/controlnet.h"
#include "models/synthetic_source.h"
#include "pipeline/stable_diffusion.h"
#include "wasm/host_channel.h"

namespace {

std::unique_ptr<websd::Backend> backend_named(const std::string& name) {
  return name == "cpu" ? websd::make_cpu_backend() : websd::make_webgpu_backend();
}

// Per network, kFields doubles: compile ms, median run ms, arena bytes, weight bytes, GFLOP, min ms, max ms.
constexpr int kFields = 7;

// Times one network; with `profile`, also prints its device profile and adds it to `profiles` (JSON by network).
void time_into(websd::Backend& backend, std::shared_ptr<const websd::Graph> g, int runs, const char* name,
               bool profile, std::string& profiles, double* out) {
  const websd::NetworkTiming t = websd::time_network(backend, std::move(g), runs, /*warmup=*/true, profile);
  out[0] = t.compile_ms;
  out[1] = t.run_ms;
  out[2] = double(t.arena_bytes);
  out[3] = double(t.weight_bytes);
  out[4] = t.gflop;
  out[5] = t.min_ms;
  out[6] = t.max_ms;
  if (!profile) return;
  const websd::ProfileReport r = websd::summarize_profile(t.profile);
  std::printf("profile of the %s (GPU time per dispatch, timestamp queries):\n%s", name,
              websd::format_profile(r, t.run_ms).c_str());
  std::fflush(stdout);
  profiles += std::string(profiles.empty() ? "{" : ",") + "\n\"" + name + "\": " + websd::profile_json(r, t.run_ms);
}

// One component's weights of a synthetic model, made to behave as an open model file's do for caches and LoRAs.
// RandomWeights hands out a new identity on every get() (its bytes are made on load and dropped after the upload,
// so a network can be timed without the architecture in memory): every generation then makes and uploads every
// weight again, and its empty list() leaves LoRA layers nothing to match. Here each tensor keeps the WeightData
// first handed out for its name (bytes still made on each load), so the webgpu weight cache keeps its GPU copy
// while the model is open, as it does for a file's tensors; and list() names every tensor the networks have asked
// for so far, as a file lists what it holds.
class RecordedWeights final : public websd::WeightSource {
 public:
  websd::WeightData get(const std::string& name, const websd::Shape& shape) const override {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = seen_.find(name);
    if (it == seen_.end() || it->second.shape != shape)
      it = seen_.insert_or_assign(name, random_.get(name, shape)).first;
    return it->second;
  }
  bool contains(const std::string& name) const override { return random_.contains(name); }
  std::string where() const override { return random_.where(); }
  std::vector<websd::TensorInfo> list() const override {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<websd::TensorInfo> out;
    for (const auto& [name, w] : seen_) out.push_back({name, w.dtype, w.shape});
    return out;
  }

 private:
  websd::RandomWeights random_{websd::DType::kF16};
  mutable std::mutex mutex_;
  mutable std::map<std::string, websd::WeightData> seen_;
};

// The synthetic model of an architecture with RecordedWeights for each component.
class RecordedSource final : public websd::ModelSource {
 public:
  explicit RecordedSource(std::unique_ptr<websd::ModelSource> inner) : inner_(std::move(inner)) {}
  std::string path() const override { return inner_->path(); }
  std::string pipeline_class() const override { return inner_->pipeline_class(); }
  websd::Config pipeline_config() const override { return inner_->pipeline_config(); }
  bool has_component(const std::string& name) const override { return inner_->has_component(name); }
  websd::Config config(const std::string& component) const override { return inner_->config(component); }
  std::shared_ptr<websd::WeightSource> weights(const std::string& component) const override {
    std::lock_guard<std::mutex> lock(mutex_);
    auto& w = components_[component];
    if (!w) w = std::make_shared<RecordedWeights>();
    return w;
  }
  std::string tokenizer_dir(const std::string& component) const override { return inner_->tokenizer_dir(component); }

  // {"component": [["name", [dims...]], ...], ...}: what the networks have asked for so far.
  std::string tensors_json() const {
    std::lock_guard<std::mutex> lock(mutex_);
    nlohmann::json j = nlohmann::json::object();
    for (const auto& [component, w] : components_) {
      nlohmann::json list = nlohmann::json::array();
      for (const websd::TensorInfo& t : w->list()) list.push_back({t.name, t.shape.dims});
      j[component] = std::move(list);
    }
    return j.dump();
  }

 private:
  std::unique_ptr<websd::ModelSource> inner_;
  mutable std::mutex mutex_;
  mutable std::map<std::string, std::shared_ptr<RecordedWeights>> components_;
};

}  // namespace

// An open synthetic model (websd_wasm_bench_model_open); the source is owned by `sd`.
struct BenchModel {
  const RecordedSource* source = nullptr;
  std::unique_ptr<websd::StableDiffusion> sd;
};

extern "C" {

// results: 4 networks × kFields (text encoder, text encoder 2 or zeros, unet, vae decoder). `only` ("" = all)
// names the networks to time ("unet", "vae", "text"; "controlnet" beside "unet" times the UNet with one ControlNet); a non-empty `profile_path` profiles each network and
// writes the profiles there as JSON; `kernels` forces kernel variants ("gemm=0,attention=0": kernel_choice.h).
EMSCRIPTEN_KEEPALIVE void websd_wasm_bench(const char* arch_name, const char* backend_name, int width, int height,
                                           int runs, const char* only, const char* dtype, const char* profile_path,
                                           const char* kernels, double* results) {
  const std::string want = only, path = profile_path, weight_dtype = dtype, choice = kernels;
  websd::wasm::start_job([=](std::string& message) {
    {
      websd::webgpu::set_kernel_choice(choice);
      const websd::Architecture arch = websd::architecture(arch_name);
      const int w = width ? width : arch.native_size, h = height ? height : arch.native_size;
      const websd::DType dt = weight_dtype == "q8" ? websd::DType::kI8 : websd::DType::kF16;
      const bool profile = !path.empty();
      const auto wanted = [&](const char* key) { return want.empty() || want.find(key) != std::string::npos; };
      std::unique_ptr<websd::Backend> backend = backend_named(backend_name);
      std::string profiles;
      for (int i = 0; i < 4 * kFields; ++i) results[i] = 0;
      for (size_t i = 0; i < arch.text_encoders.size() && wanted("text"); ++i) {
        websd::RandomWeights weights(dt);
        time_into(*backend, websd::build_clip_text_encoder(arch.text_encoders[i], weights, 2).graph, runs,
                  i ? "text encoder 2" : "text encoder", profile, profiles, results + i * kFields);
      }
      const int lh = h / arch.vae.downscale(), lw = w / arch.vae.downscale();  // latent size
      if (wanted("unet")) {  // "controlnet" in `only`: with one ControlNet of the architecture, in one graph
        websd::RandomWeights weights(dt);
        const websd::ControlNetConfig control = websd::ControlNetConfig::for_unet(arch.unet);
        const bool with_control = wanted("controlnet") && !want.empty();
        time_into(*backend,
                  with_control ? websd::build_controlled_unet(arch.unet, weights, {{&control, &weights}}, 2, lh, lw).graph
                               : websd::build_unet(arch.unet, weights, 2, lh, lw).graph,
                  runs, with_control ? "unet+controlnet" : "unet", profile, profiles, results + 2 * kFields);
      }
      if (wanted("vae")) {
        websd::RandomWeights weights(dt);
        time_into(*backend, websd::build_vae_decoder(arch.vae, weights, 1, lh, lw).graph, runs, "vae decoder",
                  profile, profiles, results + 3 * kFields);
      }
      if (profile) {
        std::ofstream f(path);
        f << (profiles.empty() ? "{" : profiles) << "\n}\n";
        if (!f) throw websd::Error(websd::ErrorCode::kNotFound, "cannot write the profile to " + path);
      }
    }
    return 0;
  });
}

// A whole txt2img of a synthetic model of the architecture (random f16 weights, a real tokenizer), `images`
// times in a row with the same opened model: results[i * 4 ..] = total ms, ms from the call to the first
// denoising step (text encoding, UNet compile and weight upload), mean ms per denoising step after the first,
// ms from the last step to the end (VAE compile and decode, read-back).
EMSCRIPTEN_KEEPALIVE void websd_wasm_bench_generate(const char* arch_name, const char* backend_name,
                                                    const char* tokenizer_dir, int width, int height, int steps,
                                                    float guidance, int images, const char* kernels, double* results) {
  const std::string choice = kernels;
  websd::wasm::start_job([=](std::string& message) {
    {
      websd::webgpu::set_kernel_choice(choice);
      const websd::Architecture arch = websd::architecture(arch_name);
      auto sd = websd::StableDiffusion::open(websd::synthetic_model_source(arch, tokenizer_dir),
                                             backend_named(backend_name));
      for (int i = 0; i < images; ++i) {
        websd::GenerateParams p;
        p.prompt = "a lighthouse on a cliff at dusk, oil painting";
        p.negative_prompt = "blurry";
        p.width = width;
        p.height = height;
        p.steps = steps;
        p.guidance = guidance;
        p.seed = uint64_t(i);
        std::vector<double> at;
        websd::GenerateCallbacks cb;
        cb.on_progress = [&](int, int, int) {
          at.push_back(emscripten_get_now());
          return true;
        };
        const double t0 = emscripten_get_now();
        sd->generate(p, cb);
        const double t1 = emscripten_get_now();
        double* r = results + 4 * i;
        r[0] = t1 - t0;
        r[1] = at.empty() ? 0 : at.front() - t0;
        r[2] = at.size() > 1 ? (at.back() - at.front()) / double(at.size() - 1) : 0;
        r[3] = at.empty() ? 0 : t1 - at.back();
      }
    }
    return 0;
  });
}

// Opens a synthetic model of the architecture (random f16 weights that behave as an open file's: RecordedWeights)
// and sets *out, for the calls below; free it with websd_wasm_bench_model_free.
EMSCRIPTEN_KEEPALIVE void websd_wasm_bench_model_open(const char* arch_name, const char* backend_name,
                                                      const char* tokenizer_dir, const char* kernels,
                                                      BenchModel** out) {
  const std::string name = arch_name, backend = backend_name, tokenizer = tokenizer_dir, choice = kernels;
  websd::wasm::start_job([=](std::string& message) {
    {
      websd::webgpu::set_kernel_choice(choice);
      auto source =
          std::make_unique<RecordedSource>(websd::synthetic_model_source(websd::architecture(name), tokenizer));
      auto m = std::make_unique<BenchModel>();
      m->source = source.get();
      m->sd = websd::StableDiffusion::open(std::move(source), backend_named(backend));
      *out = m.release();
    }
    return 0;
  });
}

// One generate() of `images` images (seeds 0, 1, ...) with the LoRAs in `loras` (one "FILE:SCALE" a line, paths in
// the module's file system; "" = none), applied as `lora_mode` says ("merged", "" too, or "runtime"). results:
// total ms, ms from the call to the first denoising step (text encoding, LoRA files read and merged, UNet compile
// and weight upload), mean ms per denoising step after the first, ms from the last step to the end (VAE compile
// and decode, read-back).
EMSCRIPTEN_KEEPALIVE void websd_wasm_bench_model_generate(BenchModel* model, int width, int height, int steps,
                                                          float guidance, int images, const char* loras,
                                                          const char* lora_mode, double* results) {
  const std::string lora_lines = loras, mode = lora_mode && *lora_mode ? lora_mode : "merged";
  websd::wasm::start_job([=](std::string& message) {
    {
      websd::GenerateParams p;
      p.prompt = "a lighthouse on a cliff at dusk, oil painting";
      p.negative_prompt = "blurry";
      p.width = width;
      p.height = height;
      p.steps = steps;
      p.guidance = guidance;
      p.batch_count = images;
      std::istringstream lines(lora_lines);
      for (std::string line; std::getline(lines, line);)
        if (!line.empty()) p.loras.push_back(websd::parse_lora_argument(line));
      p.lora_mode = websd::parse_lora_mode(mode);
      std::vector<double> at;
      websd::GenerateCallbacks cb;
      cb.on_progress = [&](int, int, int) {
        at.push_back(emscripten_get_now());
        return true;
      };
      const double t0 = emscripten_get_now();
      model->sd->generate(p, cb);
      const double t1 = emscripten_get_now();
      results[0] = t1 - t0;
      results[1] = at.empty() ? 0 : at.front() - t0;
      results[2] = at.size() > 1 ? (at.back() - at.front()) / double(at.size() - 1) : 0;
      results[3] = at.empty() ? 0 : t1 - at.back();
    }
    return 0;
  });
}

// The tensors the model's networks have asked for so far, by component, as JSON ({"unet": [["name", [dims]], ...]}):
// the names and shapes LoRAs are made for. Called directly, between jobs; free the string with free().
EMSCRIPTEN_KEEPALIVE char* websd_wasm_bench_model_tensors(const BenchModel* model) {
  const std::string j = model->source->tensors_json();
  char* s = static_cast<char*>(std::malloc(j.size() + 1));
  if (s) std::memcpy(s, j.c_str(), j.size() + 1);
  return s;
}

EMSCRIPTEN_KEEPALIVE void websd_wasm_bench_model_free(BenchModel* model) {
  websd::wasm::start_job([=](std::string&) {
    delete model;
    return 0;
  });
}

}  // extern "C"
