// Kernel tuning for this module's WebGPU device (backends/webgpu/tuner.h), for js/lib/engine.mjs's Engine.tune and
// Engine.setTuning. The module keeps one table for its life; the host stores it (a JSON file for the Node runner,
// OPFS in pages) and hands it back when it starts again, so a GPU is tuned once.
#include <emscripten/emscripten.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "backends/webgpu/tuner.h"
#include "backends/webgpu/webgpu_backend.h"
#include "core/error.h"
#include "io/weight_source.h"
#include "models/architectures.h"
#include "wasm/host_channel.h"

namespace {

char* copy(const std::string& s) {
  char* p = static_cast<char*>(std::malloc(s.size() + 1));
  if (p) std::memcpy(p, s.c_str(), s.size() + 1);
  return p;
}

}  // namespace

extern "C" {

// Tunes the networks of an architecture (a name, "sd15", or a model's path in the module's file system) at
// width x height (0: its native size): the text encoders (batch 2), the UNet at `batch` (2 with guidance, 1
// without) and the VAE decoder, with `dtype` ("f16", or "q8" for q8 packs) weights, `runs` timed runs per
// candidate, only problems whose key holds `filter`. Progress goes to the host as (0, problems done, problems),
// which may cancel. The table measured is merged into the module's (replacing it if it was another adapter's) and
// used from the next compile on; *json_out receives the merged table (free it with free) and summary[0..5] the
// problems measured, the candidates timed, the seconds, the weighted GPU ms under the rules and tuned, and the
// problems where a candidate beat the rules.
EMSCRIPTEN_KEEPALIVE void websd_wasm_tune(const char* arch_or_path, int width, int height, int batch, int runs,
                                          const char* dtype, const char* filter, char** json_out, double* summary) {
  const std::string name = arch_or_path, weights_dtype = dtype, only = filter;
  websd::wasm::start_job([=](std::string& message) {
    using namespace websd;
    const Architecture arch = architecture(name);
    const int w = width ? width : arch.native_size, h = height ? height : arch.native_size;
    const int lh = h / arch.vae.downscale(), lw = w / arch.vae.downscale();
    RandomWeights weights(weights_dtype == "q8" ? DType::kI8 : DType::kF16);
    std::vector<std::shared_ptr<const Graph>> graphs;
    for (const ClipTextConfig& t : arch.text_encoders) graphs.push_back(build_clip_text_encoder(t, weights, 2).graph);
    graphs.push_back(build_unet(arch.unet, weights, batch > 0 ? batch : 2, lh, lw).graph);
    graphs.push_back(build_vae_decoder(arch.vae, weights, 1, lh, lw).graph);
    webgpu::TuneOptions options;
    options.runs = runs > 0 ? runs : options.runs;
    options.filter = only;
    options.progress = [](int done, int total) {
      return wasm::call_host(wasm::HostOp::kProgress, {0u, uint32_t(done), uint32_t(total)}).status == 0;
    };
    auto gpu = make_webgpu_backend();
    const webgpu::TuneResult r = webgpu::tune(*gpu, graphs, options);
    webgpu::TuningTable table = webgpu::tuning();
    if (table.adapter != r.table.adapter) table = {};
    table.merge(r.table);
    webgpu::set_tuning(table);
    int improved = 0;
    for (const auto& [key, p] : r.table.problems) improved += !p.choice.empty();
    const double values[] = {double(r.table.problems.size()), double(r.candidates), r.seconds, r.auto_ms, r.tuned_ms,
                             double(improved)};
    std::memcpy(summary, values, sizeof values);
    *json_out = copy(table.to_json());
    return 0;
  });
}

// Uses the table in `json` (a table Engine.tune returned, as stored) from the next compile on; "" uses the
// built-in rules everywhere. Called directly, between jobs. 0, or a status with *error set to why (free it with
// free): a table of another format or kernel version is refused, and the one in use stays.
EMSCRIPTEN_KEEPALIVE int websd_wasm_set_tuning(const char* json, char** error) {
  try {
    const std::string text = json ? json : "";
    websd::webgpu::set_tuning(text.empty() ? websd::webgpu::TuningTable{} : websd::webgpu::TuningTable::from_json(text));
    return 0;
  } catch (const websd::Error& e) {
    *error = copy(e.what());
    return int(e.code()) + 1;
  }
}

}  // extern "C"
