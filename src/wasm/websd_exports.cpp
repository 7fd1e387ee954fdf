// What websd.wasm exports to JavaScript beyond the mailbox: the blocking calls of include/websd/websd.h, each
// started as a job on an engine thread (they may wait on the GPU host, which is the calling JS thread, so they
// must never run on it). js/lib/engine.mjs wraps each in a promise. Cheap non-blocking calls (native size,
// default scheduler, websd_image memory) are called directly.
#include <emscripten/emscripten.h>
#include <malloc.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

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

// A ControlNet's numbers and image from its JSON object ({path, image: the address of a websd_image, scale, start,
// end, preprocessor, canny_low, canny_high, invert, resize}); the caller sets the strings.
websd_controlnet read_control(const nlohmann::json& c) {
  websd_controlnet out = websd_controlnet_default();
  out.image = reinterpret_cast<const websd_image*>(uintptr_t(c.value("image", uint32_t(0))));
  out.scale = c.value("scale", out.scale);
  out.start = c.value("start", out.start);
  out.end = c.value("end", out.end);
  out.canny_low = c.value("canny_low", out.canny_low);
  out.canny_high = c.value("canny_high", out.canny_high);
  out.invert = c.value("invert", false) ? 1 : 0;
  return out;
}

// websd_txt2img_params read from the JSON object engine.mjs writes, with the strings its pointers point into.
struct JsonParams {
  std::string prompt, negative, scheduler, overrides, lora_dir, lora_mode, embedding_dir, vae_decoder,
      preview_decoder, hires_upscaler;
  std::vector<std::string> lora_paths, embedding_paths, embedding_words;
  std::vector<websd_lora> loras;
  std::vector<websd_embedding> embeddings;
  std::vector<std::string> control_paths, control_preprocessors, control_resizes;
  std::vector<websd_controlnet> controls;
  websd_txt2img_params p = websd_txt2img_params_default();

  JsonParams() = default;
  JsonParams(const JsonParams&) = delete;

  // False with `message` for JSON that is no object, an unknown key or a value of the wrong type.
  bool read(const char* params_json, const websd_image* init, const websd_image* mask, std::string& message) {
    const nlohmann::json j = nlohmann::json::parse(params_json ? params_json : "", nullptr, false);
    if (!j.is_object()) {
      message = "the parameters are not a JSON object";
      return false;
    }
    static const char* kKeys[] = {"prompt",         "negative_prompt", "width",
                                  "height",         "steps",           "guidance",
                                  "seed",           "scheduler",       "scheduler_config",
                                  "strength",       "preview_every",   "loras",
                                  "lora_dir",       "embeddings",      "embedding_dir",
                                  "literal_prompt", "vae_decoder",     "preview_decoder",
                                  "hires_scale",    "hires_strength",  "hires_steps",
                                  "hires_upscaler", "lora_mode",     "controlnets"};
    for (const auto& item : j.items()) {
      const std::string key = item.key();
      if (std::find_if(std::begin(kKeys), std::end(kKeys), [&](const char* k) { return key == k; }) ==
          std::end(kKeys)) {
        message = "unknown parameter '" + key + "'";
        return false;
      }
    }
    try {  // a value of the wrong type is the caller's error, named
      prompt = j.value("prompt", "");
      negative = j.value("negative_prompt", "");
      scheduler = j.value("scheduler", "");
      overrides = j.value("scheduler_config", nlohmann::json::object()).dump();
      p.prompt = prompt.c_str();
      p.negative_prompt = negative.c_str();
      p.width = j.value("width", 0);
      p.height = j.value("height", 0);
      p.steps = j.value("steps", p.steps);
      p.guidance = j.value("guidance", p.guidance);
      p.seed = std::strtoull(j.value("seed", "0").c_str(), nullptr, 10);
      p.scheduler = scheduler.empty() ? nullptr : scheduler.c_str();
      p.scheduler_config = overrides.c_str();
      p.init_image = init;
      p.mask = mask;
      p.strength = j.value("strength", p.strength);
      p.preview_every = j.value("preview_every", 0);
      for (const auto& l : j.value("loras", nlohmann::json::array())) {
        lora_paths.push_back(l.at("path").get<std::string>());
        loras.push_back({nullptr, l.value("scale", 1.0f)});
      }
      for (size_t i = 0; i < loras.size(); ++i) loras[i].path = lora_paths[i].c_str();
      p.loras = loras.data();
      p.lora_count = int(loras.size());
      lora_dir = j.value("lora_dir", "");
      p.lora_dir = lora_dir.empty() ? nullptr : lora_dir.c_str();
      lora_mode = j.value("lora_mode", "");
      p.lora_mode = lora_mode.empty() ? nullptr : lora_mode.c_str();
      for (const auto& e : j.value("embeddings", nlohmann::json::array())) {
        embedding_paths.push_back(e.at("path").get<std::string>());
        embedding_words.push_back(e.value("word", ""));
      }
      for (size_t i = 0; i < embedding_paths.size(); ++i)
        embeddings.push_back({embedding_paths[i].c_str(), embedding_words[i].c_str()});
      p.embeddings = embeddings.data();
      p.embedding_count = int(embeddings.size());
      embedding_dir = j.value("embedding_dir", "");
      p.embedding_dir = embedding_dir.empty() ? nullptr : embedding_dir.c_str();
      p.literal_prompt = j.value("literal_prompt", false) ? 1 : 0;
      vae_decoder = j.value("vae_decoder", "");
      p.vae_decoder = vae_decoder.empty() ? nullptr : vae_decoder.c_str();
      preview_decoder = j.value("preview_decoder", "");
      p.preview_decoder = preview_decoder.empty() ? nullptr : preview_decoder.c_str();
      p.hires_scale = j.value("hires_scale", p.hires_scale);
      p.hires_strength = j.value("hires_strength", p.hires_strength);
      p.hires_steps = j.value("hires_steps", p.hires_steps);
      hires_upscaler = j.value("hires_upscaler", "");
      p.hires_upscaler = hires_upscaler.empty() ? nullptr : hires_upscaler.c_str();
      for (const auto& c : j.value("controlnets", nlohmann::json::array())) {
        control_paths.push_back(c.at("path").get<std::string>());
        control_preprocessors.push_back(c.value("preprocessor", "none"));
        control_resizes.push_back(c.value("resize", "crop"));
        controls.push_back(read_control(c));
      }
      for (size_t i = 0; i < controls.size(); ++i) {
        controls[i].path = control_paths[i].c_str();
        controls[i].preprocessor = control_preprocessors[i].c_str();
        controls[i].resize = control_resizes[i].c_str();
      }
      p.controlnets = controls.data();
      p.controlnet_count = int(controls.size());
    } catch (const nlohmann::json::exception& e) {
      message = std::string("a parameter has the wrong type (") + e.what() + ")";
      return false;
    }
    return true;
  }
};

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
// Every option crosses as one JSON object (js/lib/engine.mjs writes it; the C API's websd_txt2img_params under
// snake_case names): prompt, negative_prompt, width, height, steps, guidance, seed (a decimal string: 64 bits),
// scheduler, scheduler_config (an object), strength, preview_every, loras ([{path, scale}], paths in the module's
// file system), lora_dir, lora_mode ("merged" or "runtime"), embeddings ([{path, word}]), embedding_dir, literal_prompt (a boolean), vae_decoder and
// preview_decoder (TAESD folders in the module's file system), hires_scale, hires_strength, hires_steps,
// hires_upscaler and controlnets ([{path, image (a websd_image's address), scale, start, end, preprocessor,
// canny_low, canny_high, invert, resize}]). An unknown key is an invalid argument.
// `init` (null for txt2img) is the img2img image and `mask` (null unless inpainting) the inpainting mask, each a
// websd_image. Progress goes to the host, which may cancel; every preview_every steps (0 = never) a preview goes to
// it too. The host owns the JSON and the images until the job ends.
EMSCRIPTEN_KEEPALIVE void websd_wasm_txt2img(websd_model* model, const char* params_json, const websd_image* init,
                                             const websd_image* mask, websd_image* images, int count) {
  websd::wasm::start_job([=](std::string& message) {
    JsonParams j;
    if (!j.read(params_json, init, mask, message)) {
      message = "websd_wasm_txt2img: " + message;
      return int(WEBSD_ERROR_INVALID_ARGUMENT);
    }
    j.p.progress = report_progress;
    j.p.preview = j.p.preview_every > 0 ? report_preview : nullptr;
    return finish(websd_txt2img(model, &j.p, images, count), message);
  });
}

// The parameters text of image `image` of a txt2img call with `params_json` (websd_parameters_text), called directly
// (it runs no network): a string, or null with *error set to why. Free either with websd_string_free.
EMSCRIPTEN_KEEPALIVE char* websd_wasm_parameters_text(websd_model* model, const char* params_json,
                                                      const websd_image* init, const websd_image* mask, int image,
                                                      const char* model_name, char** error) {
  JsonParams j;
  std::string message;
  char* text = nullptr;
  if (!j.read(params_json, init, mask, message))
    message = "websd_wasm_parameters_text: " + message;
  else if (websd_parameters_text(model, &j.p, image, model_name, &text) == WEBSD_OK)
    return text;
  else
    message = websd_last_error();
  *error = static_cast<char*>(std::malloc(message.size() + 1));
  if (*error) std::memcpy(*error, message.c_str(), message.size() + 1);
  return nullptr;
}

// websd_control_map, called directly (it runs no network): the control map of one ControlNet object (as in
// "controlnets") at width x height into *out (free its data with free), or non-zero with *error set to why (free it
// with websd_string_free).
EMSCRIPTEN_KEEPALIVE int websd_wasm_control_map(const char* control_json, int width, int height, websd_image* out,
                                                char** error) {
  std::string message;
  websd_status status = WEBSD_ERROR_INVALID_ARGUMENT;
  try {
    const nlohmann::json c = nlohmann::json::parse(control_json ? control_json : "");
    websd_controlnet control = read_control(c);
    const std::string path = c.value("path", "map"), pre = c.value("preprocessor", "none"),
                      resize = c.value("resize", "crop");
    control.path = path.c_str();
    control.preprocessor = pre.c_str();
    control.resize = resize.c_str();
    status = websd_control_map(&control, width, height, out);
    if (status != WEBSD_OK) message = websd_last_error();
  } catch (const nlohmann::json::exception& e) {
    message = std::string("websd_wasm_control_map: the control is not a JSON object of the right types (") + e.what() + ")";
  }
  if (status == WEBSD_OK) return 0;
  *error = static_cast<char*>(std::malloc(message.size() + 1));
  if (*error) std::memcpy(*error, message.c_str(), message.size() + 1);
  return int(status);
}

// websd_prompt_info, called directly (it runs no network; not beside a generation of this model): the JSON, or
// null with *error set to why. Free either with websd_string_free.
EMSCRIPTEN_KEEPALIVE char* websd_wasm_prompt_info(websd_model* model, const char* prompt, int literal, char** error) {
  char* json = nullptr;
  if (websd_prompt_info(model, prompt, literal, &json) == WEBSD_OK) return json;
  const std::string message = websd_last_error();
  *error = static_cast<char*>(std::malloc(message.size() + 1));
  if (*error) std::memcpy(*error, message.c_str(), message.size() + 1);
  return nullptr;
}

EMSCRIPTEN_KEEPALIVE void websd_wasm_free(websd_model* model) {
  websd::wasm::start_job([=](std::string&) {
    websd_model_free(model);
    return 0;
  });
}

// Bytes of the wasm heap that malloc has handed out and not had back (dlmalloc's mallinfo): exact where the heap's
// size is only its high-water mark, so leak checks compare this.
EMSCRIPTEN_KEEPALIVE size_t websd_wasm_heap_in_use(void) { return mallinfo().uordblks; }

}  // extern "C"
