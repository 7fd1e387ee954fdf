// Benchmarks of real architectures (synthesized f16 weights, no files) on the webgpu or cpu backend of this module,
// for js/bench-node.mjs: `websd_wasm_bench` times each network (one at a time is built, compiled with its weights
// uploaded, timed and freed, so the wasm heap holds one network's weights at most); `websd_wasm_bench_generate`
// times whole generations.
#include <emscripten/emscripten.h>

#include <functional>
#include <string>

#include "backends/cpu/cpu_backend.h"
#include "backends/network_timing.h"
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

// Per network, kFields doubles: compile ms, best run ms, arena bytes, weight bytes, GFLOP.
constexpr int kFields = 5;

void time_into(websd::Backend& backend, std::shared_ptr<const websd::Graph> g, int runs, double* out) {
  const websd::NetworkTiming t = websd::time_network(backend, std::move(g), runs, /*warmup=*/true);
  out[0] = t.compile_ms;
  out[1] = t.run_ms;
  out[2] = double(t.arena_bytes);
  out[3] = double(t.weight_bytes);
  out[4] = t.gflop;
}

}  // namespace

extern "C" {

// results: 4 networks × kFields (text encoder, text encoder 2 or zeros, unet, vae decoder).
EMSCRIPTEN_KEEPALIVE void websd_wasm_bench(const char* arch_name, const char* backend_name, int width, int height,
                                           int runs, double* results) {
  websd::wasm::start_job([=](std::string& message) {
    return report([&] {
      const websd::Architecture arch = websd::architecture(arch_name);
      const int w = width ? width : arch.native_size, h = height ? height : arch.native_size;
      std::unique_ptr<websd::Backend> backend = backend_named(backend_name);
      for (int i = 0; i < 4 * kFields; ++i) results[i] = 0;
      for (size_t i = 0; i < arch.text_encoders.size(); ++i) {
        websd::RandomWeights weights(websd::DType::kF16);
        time_into(*backend, websd::build_clip_text_encoder(arch.text_encoders[i], weights, 2).graph, runs,
                  results + i * kFields);
      }
      {
        websd::RandomWeights weights(websd::DType::kF16);
        time_into(*backend, websd::build_unet(arch.unet, weights, 2, h / 8, w / 8).graph, runs, results + 2 * kFields);
      }
      websd::RandomWeights weights(websd::DType::kF16);
      time_into(*backend, websd::build_vae_decoder(arch.vae, weights, 1, h / 8, w / 8).graph, runs,
                results + 3 * kFields);
    }, message);
  });
}

// A whole txt2img of a synthetic model of the architecture (random f16 weights, a real tokenizer), `images`
// times in a row with the same opened model: results[i * 4 ..] = total ms, ms from the call to the first
// denoising step (text encoding, UNet compile and weight upload), mean ms per denoising step after the first,
// ms from the last step to the end (VAE compile and decode, read-back).
EMSCRIPTEN_KEEPALIVE void websd_wasm_bench_generate(const char* arch_name, const char* backend_name,
                                                    const char* tokenizer_dir, int width, int height, int steps,
                                                    float guidance, int images, double* results) {
  websd::wasm::start_job([=](std::string& message) {
    return report([&] {
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
