// `websd_wasm_bench`: times a real architecture's networks (synthesized f16 weights, no files) on the webgpu or
// cpu backend of this module, for js/bench-node.mjs. One network at a time is built, compiled (weights uploaded),
// timed and freed, so the wasm heap holds one network's weights at most.
#include <emscripten/emscripten.h>

#include <chrono>
#include <string>

#include "backends/cpu/cpu_backend.h"
#include "backends/webgpu/webgpu_backend.h"
#include "core/error.h"
#include "models/architectures.h"
#include "wasm/host_channel.h"

namespace {

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

// Per network, kFields doubles: compile ms, best run ms, arena bytes, weight bytes, GFLOP.
constexpr int kFields = 5;

void time_network(websd::Backend& backend, std::shared_ptr<const websd::Graph> g, int runs, double* out) {
  auto t0 = Clock::now();
  auto exe = backend.compile(g);
  for (websd::TensorId id : g->inputs()) {
    const websd::Node& n = g->node(id);
    if (n.dtype == websd::DType::kI32) {
      std::vector<int32_t> ids(size_t(n.shape.numel()), 49407);
      exe->set_input(id, ids.data());
    } else {
      std::vector<float> x(size_t(n.shape.numel()), 0.1f);
      exe->set_input(id, x.data());
    }
  }
  const websd::TensorId y = g->outputs().front();
  std::vector<float> result(size_t(g->shape(y).numel()));
  exe->run();
  exe->read(y, result.data());  // the first run includes pipeline creation; it is not timed
  out[0] = ms_since(t0);
  out[1] = 1e30;
  for (int i = 0; i < runs; ++i) {
    t0 = Clock::now();
    exe->run();
    exe->read(y, result.data());  // waits for the GPU
    out[1] = std::min(out[1], ms_since(t0));
  }
  out[2] = double(exe->plan().arena_bytes);
  out[3] = double(g->weight_bytes());
  out[4] = g->flops() / 1e9;
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
        time_network(*backend, websd::build_clip_text_encoder(arch.text_encoders[i], weights, 2).graph, runs,
                     results + i * kFields);
      }
      {
        websd::RandomWeights weights(websd::DType::kF16);
        time_network(*backend, websd::build_unet(arch.unet, weights, 2, h / 8, w / 8).graph, runs, results + 2 * kFields);
      }
      websd::RandomWeights weights(websd::DType::kF16);
      time_network(*backend, websd::build_vae_decoder(arch.vae, weights, 1, h / 8, w / 8).graph, runs,
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
