// `websd_wasm_bench`: times a real architecture's networks (synthesized f16 weights, no files) on the webgpu or
// cpu backend of this module, for js/bench-node.mjs. One network at a time is built, compiled (weights uploaded),
// timed and freed, so the wasm heap holds one network's weights at most.
#include <emscripten/emscripten.h>

#include <string>

#include "backends/cpu/cpu_backend.h"
#include "backends/network_timing.h"
#include "backends/webgpu/webgpu_backend.h"
#include "core/error.h"
#include "models/architectures.h"
#include "wasm/host_channel.h"

namespace {

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
    try {
      const websd::Architecture arch = websd::architecture(arch_name);
      const int w = width ? width : arch.native_size, h = height ? height : arch.native_size;
      std::unique_ptr<websd::Backend> backend = std::string(backend_name) == "cpu"
                                                    ? websd::make_cpu_backend()
                                                    : websd::make_webgpu_backend();
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
      return 0;
    } catch (const websd::Error& e) {
      message = e.what();
      return int(e.code()) + 1;
    } catch (const std::bad_alloc&) {
      message = "out of memory";
      return 6;
    }
  });
}

}  // extern "C"
