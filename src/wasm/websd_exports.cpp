// What websd.wasm exports to JavaScript beyond the mailbox: the blocking calls of include/websd/websd.h, each
// started as a job on an engine thread (they may wait on the GPU host, which is the calling JS thread, so they
// must never run on it). js/lib/engine.mjs wraps each in a promise. Cheap non-blocking calls (native size,
// default scheduler, websd_image memory) are called directly.
#include <emscripten/emscripten.h>

#include <string>

#include "wasm/host_channel.h"
#include "websd/websd.h"

namespace {

using websd::wasm::call_host;
using websd::wasm::HostOp;

int report_progress(void*, int image, int step, int steps) {
  const auto reply = call_host(HostOp::kProgress, {uint32_t(image), uint32_t(step), uint32_t(steps)});
  return reply.status == 0;  // the host answers 1 to cancel
}

void report_preview(void*, int image, int step, const uint8_t* rgb, int width, int height) {
  call_host(HostOp::kPreview, {uint32_t(image), uint32_t(step), uint32_t(reinterpret_cast<uintptr_t>(rgb)),
                               uint32_t(width), uint32_t(height)});
}

int32_t finish(websd_status status, std::string& message) {
  if (status != WEBSD_OK) message = websd_last_error();
  return int32_t(status);
}

}  // namespace

extern "C" {

// Opens a model; *out receives it. The host owns `path` and `backend` until the job ends.
EMSCRIPTEN_KEEPALIVE void websd_wasm_open(const char* path, const char* backend, int threads, websd_model** out) {
  websd::wasm::start_job([=](std::string& message) {
    websd_model_params p = websd_model_params_default();
    p.backend = backend;
    p.threads = threads;
    return finish(websd_model_open(path, &p, out), message);
  });
}

// Generates `count` images into images[0..count) (websd_image is 4 words: width, height, channels, data).
// Progress goes to the host, which may cancel; every `preview_every` steps (0 = never) a latent-resolution RGB
// preview goes to it too. Strings stay owned by the host until the job ends.
EMSCRIPTEN_KEEPALIVE void websd_wasm_txt2img(websd_model* model, const char* prompt, const char* negative_prompt,
                                             int width, int height, int steps, float guidance, uint32_t seed_lo,
                                             uint32_t seed_hi, const char* scheduler, websd_image* images,
                                             int count, int preview_every) {
  websd::wasm::start_job([=](std::string& message) {
    websd_txt2img_params p = websd_txt2img_params_default();
    p.prompt = prompt;
    p.negative_prompt = negative_prompt;
    p.width = width;
    p.height = height;
    p.steps = steps;
    p.guidance = guidance;
    p.seed = uint64_t(seed_hi) << 32 | seed_lo;
    p.scheduler = scheduler && *scheduler ? scheduler : nullptr;
    p.progress = report_progress;
    p.preview_every = preview_every;
    p.preview = preview_every > 0 ? report_preview : nullptr;
    return finish(websd_txt2img(model, &p, images, count), message);
  });
}

// Frees a model on an engine thread: its GPU buffers are released through the host.
EMSCRIPTEN_KEEPALIVE void websd_wasm_free(websd_model* model) {
  websd::wasm::start_job([=](std::string&) {
    websd_model_free(model);
    return 0;
  });
}

}  // extern "C"
