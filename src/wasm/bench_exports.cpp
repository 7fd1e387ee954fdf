// Benchmarks of real architectures (synthesized f16 weights, no files) on the webgpu or cpu backend of this module,
// for js/bench-node.mjs: `websd_wasm_bench` times each network (one at a time is built, compiled with its weights
// uploaded, timed and freed, so the wasm heap holds one network's weights at most); `websd_wasm_bench_generate`
// times whole generations.
#include <emscripten/emscripten.h>

#include <cstdio>
#include <fstream>
#include <functional>
#include <string>

#include "backends/cpu/cpu_backend.h"
#include "backends/network_timing.h"
#include "backends/profile_report.h"
#include "backends/webgpu/kernel_choice.h"
#include "backends/webgpu/webgpu_backend.h"
#include "core/error.h"
#include "models/architectures.h"
#include "models/synthetic_source.h"
#include "pipeline/stable_diffusion.h"
#include "wasm/host_channel.h"

namespace {

int32_t report(const std::function<void()>& body, std::string& message) {
  try {
    body();
    return 0;
  } catch (const websd::Error& e) {
    message = e.what();
    return int(e.code()) + 1;
  } catch (const std::bad_alloc&) {
    message = "out of memory";
    return 6;
  }
}

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

}  // namespace

extern "C" {

// results: 4 networks × kFields (text encoder, text encoder 2 or zeros, unet, vae decoder). `only` ("" = all)
// names the networks to time ("unet", "vae", "text"); a non-empty `profile_path` profiles each network and
// writes the profiles there as JSON; `kernels` forces kernel variants ("gemm=0,attention=0": kernel_choice.h).
EMSCRIPTEN_KEEPALIVE void websd_wasm_bench(const char* arch_name, const char* backend_name, int width, int height,
                                           int runs, const char* only, const char* dtype, const char* profile_path,
                                           const char* kernels, double* results) {
  const std::string want = only, path = profile_path, weight_dtype = dtype, choice = kernels;
  websd::wasm::start_job([=](std::string& message) {
    return report([&] {
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
      if (wanted("unet")) {
        websd::RandomWeights weights(dt);
        time_into(*backend, websd::build_unet(arch.unet, weights, 2, lh, lw).graph, runs, "unet", profile, profiles,
                  results + 2 * kFields);
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
    }, message);
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
    return report([&] {
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
    }, message);
  });
}

}  // extern "C"
