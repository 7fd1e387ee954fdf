// The C API: a thin shell around the C++ pipeline that turns every exception into a status and a message.
#include <cstdio>
#include <cstdlib>
#include <cmath>
#include <cstring>
#include <new>
#include <string>

#include "backends/cpu/cpu_backend.h"
#ifdef WEBSD_HAVE_WEBGPU
#include "backends/webgpu/webgpu_backend.h"
#endif
#include "core/error.h"
#include "pipeline/limits.h"
#include "pipeline/parameters_text.h"
#include "pipeline/stable_diffusion.h"
#include "text/prompt_weights.h"
#include "websd/websd.h"

struct websd_model {
  std::unique_ptr<websd::StableDiffusion> sd;
};

namespace {

thread_local std::string last_error;

websd_status status_of(websd::ErrorCode code) {
  switch (code) {
    case websd::ErrorCode::kInvalidArgument: return WEBSD_ERROR_INVALID_ARGUMENT;
    case websd::ErrorCode::kNotFound: return WEBSD_ERROR_NOT_FOUND;
    case websd::ErrorCode::kCorruptFile: return WEBSD_ERROR_CORRUPT_FILE;
    case websd::ErrorCode::kUnsupported: return WEBSD_ERROR_UNSUPPORTED;
    case websd::ErrorCode::kShapeMismatch: return WEBSD_ERROR_SHAPE_MISMATCH;
    case websd::ErrorCode::kOutOfMemory: return WEBSD_ERROR_OUT_OF_MEMORY;
    case websd::ErrorCode::kCancelled: return WEBSD_ERROR_CANCELLED;
    case websd::ErrorCode::kDeviceLost: return WEBSD_ERROR_DEVICE_LOST;
    case websd::ErrorCode::kInternal: return WEBSD_ERROR_INTERNAL;
  }
  return WEBSD_ERROR_INTERNAL;
}

websd_status fail(websd_status s, const std::string& message) {
  last_error = message;
  return s;
}

// Runs f and converts whatever it throws.
template <typename F>
websd_status guarded(F&& f) {
  try {
    f();
    return WEBSD_OK;
  } catch (const websd::Error& e) {
    return fail(status_of(e.code()), e.what());
  } catch (const std::bad_alloc&) {
    return fail(WEBSD_ERROR_OUT_OF_MEMORY, "out of memory: try a smaller image size or close other programs");
  } catch (const std::exception& e) {
    return fail(WEBSD_ERROR_INTERNAL, std::string("internal error: ") + e.what());
  } catch (...) {
    return fail(WEBSD_ERROR_INTERNAL, "internal error");
  }
}

// An 8-bit RGB image of the C API in [0, 1]; Error(kInvalidArgument) naming `what` when it is not one.
websd::FloatImage float_image(const websd_image* img, const char* what) {
  if (!img || !img->data || img->channels != 3 || img->width <= 0 || img->height <= 0)
    throw websd::Error(websd::ErrorCode::kInvalidArgument,
                       std::string(what) + " must be 8-bit RGB (channels 3) with its pixels");
  websd::RgbImage rgb{img->width, img->height,
                      std::vector<uint8_t>(img->data, img->data + size_t(img->width) * size_t(img->height) * 3)};
  return websd::to_float(rgb);
}

websd::ControlRequest control_request(const websd_controlnet& c, const std::string& what) {
  websd::ControlRequest r;
  if (!c.path) throw websd::Error(websd::ErrorCode::kInvalidArgument, what + " needs a path");
  r.path = c.path;
  r.image = float_image(c.image, (what + ".image").c_str());
  r.scale = c.scale;
  r.start = c.start;
  r.end = c.end;
  if (c.preprocessor && !websd::parse_control_preprocessor(c.preprocessor, &r.options.preprocessor))
    throw websd::Error(websd::ErrorCode::kInvalidArgument,
                       what + ".preprocessor must be \"none\" or \"canny\", got \"" + c.preprocessor + "\"");
  if (c.resize && !websd::parse_control_resize(c.resize, &r.options.resize))
    throw websd::Error(websd::ErrorCode::kInvalidArgument,
                       what + ".resize must be \"crop\" or \"stretch\", got \"" + c.resize + "\"");
  r.options.canny_low = c.canny_low;
  r.options.canny_high = c.canny_high;
  r.options.invert = c.invert != 0;
  return r;
}

// The C parameters as the engine's; Error(kInvalidArgument) for what they cannot mean.
websd::GenerateParams generate_params(const websd_txt2img_params* params, int count) {
  websd::GenerateParams g;
  g.prompt = params->prompt ? params->prompt : "";
  g.negative_prompt = params->negative_prompt ? params->negative_prompt : "";
  g.width = params->width;
  g.height = params->height;
  g.steps = params->steps;
  g.guidance = params->guidance;
  g.seed = params->seed;
  g.scheduler = params->scheduler ? params->scheduler : "";
  if (params->scheduler_config) {
    g.scheduler_overrides = nlohmann::json::parse(params->scheduler_config, nullptr, /*allow_exceptions=*/false);
    if (!g.scheduler_overrides.is_object())
      throw websd::Error(websd::ErrorCode::kInvalidArgument,
                         std::string("scheduler_config must be a JSON object such as {\"timestep_spacing\": "
                                     "\"trailing\"}, got: ") + params->scheduler_config);
  }
  g.batch_count = count;
  if (params->init_image) g.init_image = float_image(params->init_image, "init_image");
  g.strength = params->strength;
  if (const websd_image* mask = params->mask) {
    if (!mask->data || (mask->channels != 1 && mask->channels != 3) || mask->width <= 0 || mask->height <= 0)
      throw websd::Error(websd::ErrorCode::kInvalidArgument, "mask must be an 8-bit image of channels 1 or 3");
    if (!params->init_image || mask->width != params->init_image->width || mask->height != params->init_image->height)
      throw websd::Error(websd::ErrorCode::kInvalidArgument, "the mask must have the init image's size");
    g.mask = websd::mask_values(mask->data, mask->width, mask->height, mask->channels);
  }
  if (params->lora_count < 0 || (params->lora_count > 0 && !params->loras))
    throw websd::Error(websd::ErrorCode::kInvalidArgument, "loras must hold lora_count entries");
  for (int i = 0; i < params->lora_count; ++i) {
    const websd_lora& l = params->loras[i];
    if (!l.path || !std::isfinite(l.scale))
      throw websd::Error(websd::ErrorCode::kInvalidArgument, "loras[" + std::to_string(i) + "] needs a path and a finite scale");
    g.loras.push_back({l.path, l.scale, l.scale});
  }
  g.lora_dir = params->lora_dir ? params->lora_dir : "";
  if (params->lora_mode) g.lora_mode = websd::parse_lora_mode(params->lora_mode);
  if (params->embedding_count < 0 || (params->embedding_count > 0 && !params->embeddings))
    throw websd::Error(websd::ErrorCode::kInvalidArgument, "embeddings must hold embedding_count entries");
  for (int i = 0; i < params->embedding_count; ++i) {
    const websd_embedding& e = params->embeddings[i];
    if (!e.path)
      throw websd::Error(websd::ErrorCode::kInvalidArgument, "embeddings[" + std::to_string(i) + "] needs a path");
    g.embeddings.push_back({e.path, e.word ? e.word : ""});
  }
  g.embedding_dir = params->embedding_dir ? params->embedding_dir : "";
  g.literal_prompt = params->literal_prompt != 0;
  g.vae_decoder = params->vae_decoder ? params->vae_decoder : "";
  g.preview_decoder = params->preview_decoder ? params->preview_decoder : "";
  g.hires_scale = params->hires_scale;
  g.hires_strength = params->hires_strength;
  g.hires_steps = params->hires_steps;
  g.hires_upscaler = params->hires_upscaler ? params->hires_upscaler : "latent";
  if (params->controlnet_count < 0 || (params->controlnet_count > 0 && !params->controlnets))
    throw websd::Error(websd::ErrorCode::kInvalidArgument, "controlnets must hold controlnet_count entries");
  for (int i = 0; i < params->controlnet_count; ++i)
    g.controls.push_back(control_request(params->controlnets[i], "controlnets[" + std::to_string(i) + "]"));
  return g;
}

}  // namespace

extern "C" {

const char* websd_status_string(websd_status status) {
  switch (status) {
    case WEBSD_OK: return "ok";
    case WEBSD_ERROR_INVALID_ARGUMENT: return "invalid argument";
    case WEBSD_ERROR_NOT_FOUND: return "not found";
    case WEBSD_ERROR_CORRUPT_FILE: return "corrupt file";
    case WEBSD_ERROR_UNSUPPORTED: return "unsupported";
    case WEBSD_ERROR_SHAPE_MISMATCH: return "shape mismatch";
    case WEBSD_ERROR_OUT_OF_MEMORY: return "out of memory";
    case WEBSD_ERROR_CANCELLED: return "cancelled";
    case WEBSD_ERROR_DEVICE_LOST: return "device lost";
    case WEBSD_ERROR_INTERNAL: return "internal error";
  }
  return "unknown status";
}

const char* websd_last_error(void) { return last_error.c_str(); }

websd_model_params websd_model_params_default(void) { return websd_model_params{"cpu", 0}; }

websd_status websd_model_open(const char* path, const websd_model_params* params, websd_model** out) {
  if (!out) return fail(WEBSD_ERROR_INVALID_ARGUMENT, "websd_model_open: out is NULL");
  *out = nullptr;
  if (!path) return fail(WEBSD_ERROR_INVALID_ARGUMENT, "websd_model_open: path is NULL");
  const websd_model_params p = params ? *params : websd_model_params_default();
  const std::string backend = p.backend ? p.backend : "cpu";
#ifdef WEBSD_HAVE_WEBGPU
  const bool webgpu = backend == "webgpu";
  const char* backends = "cpu, webgpu";
#else
  const bool webgpu = false;
  const char* backends = "cpu";
#endif
  if (backend != "cpu" && !webgpu)
    return fail(WEBSD_ERROR_INVALID_ARGUMENT, "unknown backend '" + backend + "' (this build has: " + backends + ")");
  return guarded([&] {
    auto model = std::make_unique<websd_model>();
    std::unique_ptr<websd::Backend> b;
#ifdef WEBSD_HAVE_WEBGPU
    if (webgpu) b = websd::make_webgpu_backend();
#endif
    if (!b) {
      websd::CpuOptions cpu;
      cpu.threads = p.threads;
      b = websd::make_cpu_backend(cpu);
    }
    model->sd = websd::StableDiffusion::open(path, std::move(b));
    *out = model.release();
  });
}

void websd_model_free(websd_model* model) { delete model; }

int websd_model_native_width(const websd_model* model) { return model ? model->sd->info().native_width : 0; }
int websd_model_native_height(const websd_model* model) { return model ? model->sd->info().native_height : 0; }
const char* websd_model_default_scheduler(const websd_model* model) {
  return model ? model->sd->info().default_scheduler.c_str() : "";
}
const char* websd_model_family(const websd_model* model) { return model ? model->sd->info().family.c_str() : ""; }

websd_txt2img_params websd_txt2img_params_default(void) {
  websd_txt2img_params p{};
  p.steps = 20;
  p.guidance = 7.5f;
  p.hires_scale = 1.0f;
  p.hires_strength = 0.7f;
  return p;
}

websd_controlnet websd_controlnet_default(void) {
  websd_controlnet c{};
  c.scale = 1.0f;
  c.end = 1.0;
  c.canny_low = 100;
  c.canny_high = 200;
  return c;
}

websd_status websd_control_map(const websd_controlnet* control, int width, int height, websd_image* out) {
  if (!control || !out) return fail(WEBSD_ERROR_INVALID_ARGUMENT, "websd_control_map: NULL argument");
  *out = websd_image{};
  return guarded([&] {
    if (width <= 0 || height <= 0 || width > websd::limits::kMaxImageSide || height > websd::limits::kMaxImageSide)
      throw websd::Error(websd::ErrorCode::kInvalidArgument, "websd_control_map: the size must be 1.." +
                                                                 std::to_string(websd::limits::kMaxImageSide));
    const websd::ControlRequest r = control_request(*control, "control");
    const websd::FloatImage map = websd::prepare_control_image(r.image, width, height, r.options);
    auto* data = static_cast<uint8_t*>(std::malloc(map.rgb.size()));
    if (!data) throw websd::Error(websd::ErrorCode::kOutOfMemory, "websd_control_map: no memory for the map");
    for (size_t i = 0; i < map.rgb.size(); ++i) data[i] = uint8_t(std::lround(map.rgb[i] * 255.0f));
    *out = websd_image{width, height, 3, data};
  });
}

websd_status websd_txt2img(websd_model* model, const websd_txt2img_params* params, websd_image* images, int count) {
  if (!model || !params || !images) return fail(WEBSD_ERROR_INVALID_ARGUMENT, "websd_txt2img: NULL argument");
  if (count < 1) return fail(WEBSD_ERROR_INVALID_ARGUMENT, "websd_txt2img: count must be at least 1");
  return guarded([&] {
    websd::GenerateParams g = generate_params(params, count);
    websd::GenerateCallbacks cb;
    if (params->progress)
      cb.on_progress = [params](int image, int step, int steps) {
        return params->progress(params->progress_user, image, step, steps) != 0;
      };
    if (params->preview && params->preview_every > 0) {
      cb.preview_every = params->preview_every;
      cb.on_preview = [params](int image, int step, const websd::RgbImage& img) {
        params->preview(params->preview_user, image, step, img.pixels.data(), img.width, img.height);
      };
    }
    auto result = model->sd->generate(g, cb);
    for (int i = 0; i < count; ++i) {
      uint8_t* data = static_cast<uint8_t*>(std::malloc(result[size_t(i)].pixels.size()));
      if (!data) {
        for (int j = 0; j < i; ++j) websd_image_free(&images[j]);
        throw std::bad_alloc();
      }
      std::memcpy(data, result[size_t(i)].pixels.data(), result[size_t(i)].pixels.size());
      images[i] = websd_image{result[size_t(i)].width, result[size_t(i)].height, 3, data};
    }
  });
}

websd_status websd_parameters_text(websd_model* model, const websd_txt2img_params* params, int image,
                                   const char* model_name, char** out) {
  if (!model || !params || !out) return fail(WEBSD_ERROR_INVALID_ARGUMENT, "websd_parameters_text: NULL argument");
  *out = nullptr;
  if (image < 0) return fail(WEBSD_ERROR_INVALID_ARGUMENT, "websd_parameters_text: image must be >= 0");
  return guarded([&] {
    const websd::GenerateParams g = generate_params(params, image + 1);
    const websd::ModelInfo& info = model->sd->info();
    const bool img2img = !g.init_image.empty();
    const std::string text = websd::parameters_text(
        g, {g.scheduler.empty() ? info.default_scheduler : g.scheduler, g.seed + uint64_t(image),
            g.width ? g.width : img2img ? g.init_image.width : info.native_width,
            g.height ? g.height : img2img ? g.init_image.height : info.native_height,
            model_name ? model_name : ""});
    char* copy = static_cast<char*>(std::malloc(text.size() + 1));
    if (!copy) throw std::bad_alloc();
    std::memcpy(copy, text.c_str(), text.size() + 1);
    *out = copy;
  });
}

void websd_string_free(char* text) { std::free(text); }

websd_status websd_prompt_info(websd_model* model, const char* prompt, int literal, char** out) {
  if (!model || !prompt || !out) return fail(WEBSD_ERROR_INVALID_ARGUMENT, "websd_prompt_info: NULL argument");
  *out = nullptr;
  return guarded([&] {
    const std::string text = prompt;
    std::string json = "{\"tokens\":[";
    const websd::StableDiffusion::PromptTokens tokens = model->sd->prompt_tokens(text, literal != 0);
    for (size_t i = 0; i < tokens.counts.size(); ++i) json += (i ? "," : "") + std::to_string(tokens.counts[i]);
    json += "],\"chunk_size\":" + std::to_string(tokens.chunk_size) +
            ",\"max_chunks\":" + std::to_string(websd::limits::kMaxPromptChunks) + ",\"spans\":[";
    std::vector<websd::WeightSpan> spans = literal ? std::vector<websd::WeightSpan>{{0, text.size(), 1.0, false}}
                                                   : websd::prompt_weight_spans(text);
    if (text.empty()) spans.clear();
    char weight[32];
    for (size_t i = 0; i < spans.size(); ++i) {
      std::snprintf(weight, sizeof weight, "%.9g", spans[i].weight);
      json += std::string(i ? "," : "") + "[" + std::to_string(spans[i].begin) + "," + std::to_string(spans[i].end) +
              "," + weight + "," + (spans[i].is_break ? "1" : "0") + "]";
    }
    json += "]}";
    char* copy = static_cast<char*>(std::malloc(json.size() + 1));
    if (!copy) throw std::bad_alloc();
    std::memcpy(copy, json.c_str(), json.size() + 1);
    *out = copy;
  });
}

void websd_image_free(websd_image* image) {
  if (!image) return;
  std::free(image->data);
  image->data = nullptr;
}

void websd_cancel(websd_model* model) {
  if (model) model->sd->cancel();
}

}  // extern "C"
