#include "pipeline/stable_diffusion.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <mutex>

#include "core/error.h"
#include "core/memory_plan.h"
#include "io/model_source.h"
#include "models/controlnet.h"
#include "models/unet.h"
#include "models/unet_embeddings.h"
#include "models/taesd.h"
#include "models/vae.h"
#include "pipeline/denoise.h"
#include "pipeline/family.h"
#include "pipeline/limits.h"
#include "pipeline/sdxl_conditioning.h"
#include "pipeline/text_conditioning.h"
#include "pipeline/vae_decode.h"
#include "pipeline/vae_encode.h"
#include "sampling/torch_rng.h"
#include "schedulers/scheduler.h"

namespace websd {

struct StableDiffusion::Impl {
  std::shared_ptr<Backend> backend;
  std::unique_ptr<ModelSource> source;
  ModelInfo info;
  std::unique_ptr<PromptConditioner> conditioner;
  UNetConfig unet_cfg;
  VaeConfig vae_cfg;
  Config scheduler_cfg;
  std::shared_ptr<WeightSource> unet_weights, vae_weights;
  std::atomic<bool> cancelled{false};
  // Held for a whole generate() (and prompt_tokens()): two calls at once on one model run one after the other,
  // each with its own adapters, never interleaved.
  std::mutex busy;
  // The UNet's and text encoders' own weights and text encoders, and which LoRAs and embeddings are in use now.
  std::map<std::string, std::shared_ptr<WeightSource>> base_weights, lora_weights;  // the latter: LoRAs merged
  std::map<std::string, ClipTextComponent> base_text;
  std::string lora_signature, adapter_signature;
  std::vector<EmbeddingUse> embeddings;
  std::map<std::string, TaesdModel> taesd;  // the TAESD folders used, by path: read once
  std::map<std::string, ControlNetModel> controlnets;  // the ControlNets used, by path: read once

  // The ControlNet at `path`, read on first use; it must have been made for this model.
  const ControlNetModel& controlnet(const std::string& path);

  // The TAESD of `dir`, read on first use; its latents must be the model's.
  const TaesdModel& tiny_decoder(const std::string& dir);
  // LoRAs applied to the UNet and the text encoders (merged or at run time), then the embeddings' words added.
  void use_adapters(const std::vector<LoraRequest>& loras, LoraMode mode,
                    const std::vector<EmbeddingRequest>& embeddings);
};

void StableDiffusion::Impl::use_adapters(const std::vector<LoraRequest>& loras, LoraMode mode,
                                         const std::vector<EmbeddingRequest>& requests) {
  std::string signature = loras.empty() ? "" : std::string(lora_mode_name(mode)) + '\n';
  for (const LoraRequest& r : loras)
    signature += r.path + '\n' + std::to_string(r.text_scale) + ' ' + std::to_string(r.unet_scale) + '\n';
  std::string full = signature + "embeddings\n";
  for (const EmbeddingRequest& r : requests) full += r.path + '\n' + embedding_word(r) + '\n';
  if (full == adapter_signature) return;
  if (signature != lora_signature) {
    std::vector<LoraUse> uses;
    for (const LoraRequest& r : loras) uses.push_back({LoraFile::open(r.path), r.text_scale, r.unet_scale});
    lora_weights = apply_loras(base_weights, unet_cfg, uses, mode);
    unet_weights = lora_weights.at("unet");
  }
  std::vector<EmbeddingUse> uses;
  for (const EmbeddingRequest& r : requests) uses.push_back({EmbeddingFile::open(r.path), embedding_word(r)});
  for (ClipTextComponent* c : conditioner->text_components()) {
    ClipTextComponent plain = base_text.at(c->name);
    plain.weights = lora_weights.at(c->name);
    *c = with_embeddings(plain, uses);
  }
  embeddings = std::move(uses);
  lora_signature = signature;
  adapter_signature = full;
}

const TaesdModel& StableDiffusion::Impl::tiny_decoder(const std::string& dir) {
  auto found = taesd.find(dir);
  if (found != taesd.end()) return found->second;
  TaesdModel t = TaesdModel::open(dir);
  if (t.cfg.latent_channels != vae_cfg.latent_channels || t.cfg.downscale() != vae_cfg.downscale())
    throw Error(ErrorCode::kInvalidArgument,
                dir + ": this TAESD decodes " + std::to_string(t.cfg.latent_channels) + "-channel latents at 1/" +
                    std::to_string(t.cfg.downscale()) + " scale; the model's are " +
                    std::to_string(vae_cfg.latent_channels) + "-channel at 1/" + std::to_string(vae_cfg.downscale()));
  return taesd.emplace(dir, std::move(t)).first->second;
}

const ControlNetModel& StableDiffusion::Impl::controlnet(const std::string& path) {
  auto found = controlnets.find(path);
  if (found != controlnets.end()) return found->second;
  ControlNetModel c = ControlNetModel::open(path);
  c.fit_to(unet_cfg, vae_cfg.downscale());
  return controlnets.emplace(path, std::move(c)).first->second;
}

StableDiffusion::StableDiffusion() : impl_(std::make_unique<Impl>()) {}
StableDiffusion::~StableDiffusion() = default;
const ModelInfo& StableDiffusion::info() const { return impl_->info; }
void StableDiffusion::cancel() { impl_->cancelled = true; }
StableDiffusion::PromptTokens StableDiffusion::prompt_tokens(const std::string& prompt, bool literal) const {
  const std::lock_guard<std::mutex> after_any_generation(impl_->busy);
  if (prompt.size() > limits::kMaxPromptBytes)
    throw Error(ErrorCode::kInvalidArgument, "a prompt of " + std::to_string(prompt.size()) + " bytes; at most " +
                                                 std::to_string(limits::kMaxPromptBytes) + " are read");
  const ClipTextComponent& text = *impl_->conditioner->text_components()[0];
  return {prompt_token_counts(text, prompt, literal), text.cfg.max_positions - 2};
}

std::unique_ptr<StableDiffusion> StableDiffusion::open(const std::string& path, std::shared_ptr<Backend> backend,
                                                       const ModelSourceOptions& options) {
  return open(open_model_source(path, options), std::move(backend));
}

std::unique_ptr<StableDiffusion> StableDiffusion::open(std::unique_ptr<ModelSource> source,
                                                       std::shared_ptr<Backend> backend) {
  std::unique_ptr<StableDiffusion> sd(new StableDiffusion());
  Impl& m = *sd->impl_;
  m.backend = std::move(backend);
  m.source = std::move(source);
  ModelSource& src = *m.source;
  const std::string path = src.path();
  const ModelFamily family = detect_family(src);
  const Config unet_config = src.config("unet");
  m.unet_cfg = UNetConfig::from(unet_config);
  m.vae_cfg = VaeConfig::from(src.config("vae"));
  m.scheduler_cfg = src.config("scheduler");
  m.unet_weights = src.weights("unet");
  m.vae_weights = src.weights("vae");
  auto text = ClipTextComponent::load(src, "text_encoder", "tokenizer");
  if (family.kind == PipelineKind::kStableDiffusionXL)
    m.conditioner = make_sdxl_conditioner(m.backend, std::move(text),
                                          ClipTextComponent::load(src, "text_encoder_2", "tokenizer_2"), m.unet_cfg,
                                          src.pipeline_config().get_bool("force_zeros_for_empty_prompt", true),
                                          &m.cancelled);
  else
    m.conditioner = make_clip_conditioner(m.backend, std::move(text), &m.cancelled);
  if (m.unet_cfg.cross_attention_dim != m.conditioner->context_dim())
    throw Error(ErrorCode::kCorruptFile,
                path + ": the UNet expects text features of width " + std::to_string(m.unet_cfg.cross_attention_dim) +
                    (family.kind == PipelineKind::kStableDiffusionXL ? " but the text encoders produce "
                                                                     : " but the text encoder produces ") +
                    std::to_string(m.conditioner->context_dim()));
  m.info.path = path;
  m.info.pipeline_class = family.pipeline_class;
  m.info.family = family.name;
  m.info.family_description = family.description;
  m.info.guidance_embedding = family.guidance_embedding;
  m.info.inpainting = family.inpainting;
  m.info.prediction_type = m.scheduler_cfg.get_string("prediction_type", "epsilon");
  m.info.default_scheduler = scheduler_name_for_class(m.scheduler_cfg.get_string("_class_name", ""));
  if (m.info.default_scheduler.empty()) m.info.default_scheduler = "pndm";
  m.base_weights["unet"] = m.unet_weights;
  for (ClipTextComponent* c : m.conditioner->text_components()) {
    m.base_weights[c->name] = c->weights;
    m.base_text[c->name] = *c;
  }
  m.lora_weights = m.base_weights;
  const int native = unet_config.get_int("sample_size", 64) * m.vae_cfg.downscale();
  m.info.native_width = m.info.native_height = native;
  return sd;
}

namespace {

// Everything a generation may ask for, before any work (limits.h).
void check_limits(const GenerateParams& params, int width, int height, int scale) {
  using namespace limits;
  const std::string size = std::to_string(width) + "x" + std::to_string(height);
  if (width <= 0 || height <= 0 || width % scale || height % scale)
    throw Error(ErrorCode::kInvalidArgument,
                "width and height must be positive multiples of " + std::to_string(scale) + " (got " + size + ")");
  if (width > kMaxImageSide || height > kMaxImageSide || int64_t(width) * height > kMaxImagePixels)
    throw Error(ErrorCode::kInvalidArgument,
                "an image may be at most " + std::to_string(kMaxImageSide) + " pixels on a side and " +
                    std::to_string(kMaxImagePixels) + " pixels in all (2048x2048); got " + size +
                    ": generate smaller and upscale");
  if (params.steps < 1 || params.steps > kMaxSteps)
    throw Error(ErrorCode::kInvalidArgument, "steps must be between 1 and " + std::to_string(kMaxSteps) + " (got " +
                                                 std::to_string(params.steps) + ")");
  if (params.batch_count < 1 || params.batch_count > kMaxBatchCount)
    throw Error(ErrorCode::kInvalidArgument, "batch count must be between 1 and " + std::to_string(kMaxBatchCount) +
                                                 " (got " + std::to_string(params.batch_count) + ")");
  if (!std::isfinite(params.guidance) || params.guidance < 0)
    throw Error(ErrorCode::kInvalidArgument, "guidance must be a finite number >= 0");
  for (const std::string* p : {&params.prompt, &params.negative_prompt})
    if (p->size() > kMaxPromptBytes)
      throw Error(ErrorCode::kInvalidArgument, std::string(p == &params.prompt ? "the prompt" : "the negative prompt") +
                                                   " has " + std::to_string(p->size()) + " bytes; at most " +
                                                   std::to_string(kMaxPromptBytes) + " are read");
}

// img2img's image, inpainting's mask and their strength (after check_limits); the strength to use.
float check_init_image(const GenerateParams& params, int width, int height, bool inpainting) {
  const FloatImage& init = params.init_image;
  if (inpainting && (init.empty() || params.mask.empty()))
    throw Error(ErrorCode::kInvalidArgument,
                "this is an inpainting model: it repaints part of an image, so it needs the image and a mask "
                "(white = repaint)");
  if (!params.mask.empty() && init.empty())
    throw Error(ErrorCode::kInvalidArgument, "a mask needs the image it masks (the init image)");
  if (init.empty()) return 0;
  if (init.width <= 0 || init.height <= 0 || init.rgb.size() != size_t(init.width) * size_t(init.height) * 3)
    throw Error(ErrorCode::kInvalidArgument, "the init image's pixels do not match its size");
  if (init.width != width || init.height != height)
    throw Error(ErrorCode::kInvalidArgument,
                "the init image is " + std::to_string(init.width) + "x" + std::to_string(init.height) +
                    " but the image asked for is " + std::to_string(width) + "x" + std::to_string(height) +
                    ": resize the init image (or leave the size out: it defaults to the init image's)");
  if (!params.mask.empty() && params.mask.size() != size_t(init.width) * size_t(init.height))
    throw Error(ErrorCode::kInvalidArgument, "the mask has " + std::to_string(params.mask.size()) +
                                                 " values, the init image " + std::to_string(init.width) + "x" +
                                                 std::to_string(init.height) + " pixels: give a mask of its size");
  const float strength = params.strength == 0.0f ? (params.mask.empty() ? 0.8f : 1.0f) : params.strength;
  if (!(strength > 0.0f && strength <= 1.0f))
    throw Error(ErrorCode::kInvalidArgument, "strength must be in (0, 1], got " + std::to_string(strength));
  if (int(float(params.steps) * strength) < 1)
    throw Error(ErrorCode::kInvalidArgument,
                "strength " + std::to_string(strength) + " of " + std::to_string(params.steps) +
                    " steps leaves no step to run (int(steps * strength) is 0): raise the steps or the strength");
  return strength;
}

// The hires fix's size (GenerateParams::hires_scale) and its checks, before any work: the upscaled size within the
// limits, a strength in [0, 1] that leaves a step to run, a known upscaler, no mask.
void check_hires(const GenerateParams& params, int width, int height, int scale, int& out_w, int& out_h) {
  out_w = width, out_h = height;
  if (params.hires_scale == 1.0f) return;
  if (!(params.hires_scale > 1.0f && params.hires_scale <= 4.0f))
    throw Error(ErrorCode::kInvalidArgument, "hires scale must be in (1, 4] (1 = no hires fix), got " +
                                                 std::to_string(params.hires_scale));
  if (params.hires_upscaler != "latent" && params.hires_upscaler != "image")
    throw Error(ErrorCode::kInvalidArgument,
                "hires upscaler must be \"latent\" or \"image\", got \"" + params.hires_upscaler + "\"");
  if (!params.mask.empty())
    throw Error(ErrorCode::kInvalidArgument, "a hires fix does not take a mask: inpaint at the final size instead");
  const int steps = params.hires_steps ? params.hires_steps : params.steps;
  if (!(params.hires_strength >= 0.0f && params.hires_strength <= 1.0f))
    throw Error(ErrorCode::kInvalidArgument, "hires strength must be in [0, 1], got " +
                                                 std::to_string(params.hires_strength));
  if (steps < 1 || steps > limits::kMaxSteps)
    throw Error(ErrorCode::kInvalidArgument, "hires steps must be between 1 and " + std::to_string(limits::kMaxSteps));
  if (params.hires_strength > 0 && int(float(steps) * params.hires_strength) < 1)
    throw Error(ErrorCode::kInvalidArgument, "hires strength " + std::to_string(params.hires_strength) + " of " +
                                                 std::to_string(steps) + " steps leaves no step to run");
  out_w = int(float(width) * params.hires_scale) / scale * scale;
  out_h = int(float(height) * params.hires_scale) / scale * scale;
  check_limits(params, out_w, out_h, scale);
}

// The ControlNets' scales, ranges and images, before any work.
void check_controls(const GenerateParams& params, bool inpainting) {
  for (size_t i = 0; i < params.controls.size(); ++i) {
    const ControlRequest& c = params.controls[i];
    const std::string which = params.controls.size() > 1 ? "ControlNet " + std::to_string(i + 1) + ": " : "";
    if (inpainting)
      throw Error(ErrorCode::kInvalidArgument,
                  "ControlNets guide txt2img and img2img; with an inpainting model they are not supported");
    if (c.image.empty())
      throw Error(ErrorCode::kInvalidArgument, which + "a ControlNet needs its control image");
    if (!(c.scale >= 0.0f && c.scale <= 10.0f))
      throw Error(ErrorCode::kInvalidArgument, which + "control scale must be in [0, 10], got " + std::to_string(c.scale));
    if (!(c.start >= 0.0 && c.start < c.end && c.end <= 1.0))
      throw Error(ErrorCode::kInvalidArgument, which + "control start and end must satisfy 0 <= start < end <= 1, got " +
                                                   std::to_string(c.start) + " and " + std::to_string(c.end));
  }
}

// The mask at the latents' size, as diffusers' prepare_mask_latents makes it: binarised at 0.5 and taken at every
// scale-th pixel (nearest-neighbour interpolation); 1 = repaint.
std::vector<float> latent_mask(const GenerateParams& params, int scale, int lh, int lw) {
  const int w = params.init_image.width;
  std::vector<float> out;
  out.reserve(size_t(lh) * size_t(lw));
  for (int y = 0; y < lh; ++y)
    for (int x = 0; x < lw; ++x) out.push_back(params.mask[size_t(y * scale) * size_t(w) + size_t(x * scale)] >= 0.5f);
  return out;
}

// An inpainting UNet's extra input: the latent mask, then the latents of the image with the repainted pixels grey
// (0 in [-1, 1]), sampled with the image's generator after its noise.
std::vector<float> inpainting_input(const GenerateParams& params, const LatentDistribution& masked, int scale,
                                    float scaling_factor, TorchGenerator& gen) {
  std::vector<float> out = latent_mask(params, scale, masked.height, masked.width);
  for (float v : masked.sample(gen)) out.push_back(v * scaling_factor);
  return out;
}

// The UNet's planned activation arena must fit what the backend can hold, or nothing starts.
void check_memory(const Backend& backend, const UNetGraph& unet, int width, int height) {
  const uint64_t arena = plan_memory(*unet.graph, [](const Node&) { return size_t(0); }).arena_bytes;
  if (arena > backend.max_arena_bytes())
    throw Error(ErrorCode::kOutOfMemory,
                "a " + std::to_string(width) + "x" + std::to_string(height) + " image needs " +
                    std::to_string(arena >> 20) + " MiB of working memory for the UNet, more than the " +
                    std::to_string(backend.max_arena_bytes() >> 20) + " MiB the backend (" + backend.name() +
                    ") can hold: choose a smaller size");
}

}  // namespace

std::vector<RgbImage> StableDiffusion::generate(const GenerateParams& params, const GenerateCallbacks& callbacks) {
  Impl& m = *impl_;
  const std::lock_guard<std::mutex> one_at_a_time(m.busy);
  // A cancel that arrives before the run starts stops it at its first boundary; the flag is cleared when the run
  // ends (however it ends), so that it never reaches the next run.
  struct ClearOnExit {
    std::atomic<bool>& flag;
    ~ClearOnExit() { flag = false; }
  } clear_cancel{m.cancelled};
  const FloatImage& init = params.init_image;
  const int width = params.width ? params.width : init.empty() ? m.info.native_width : init.width;
  const int height = params.height ? params.height : init.empty() ? m.info.native_height : init.height;
  const int scale = m.vae_cfg.downscale();
  check_limits(params, width, height, m.vae_cfg.downscale());
  const float strength = check_init_image(params, width, height, m.info.inpainting);
  check_controls(params, m.info.inpainting);
  // ControlNets no longer asked for are let go (their weights, and on a GPU their copies there).
  for (auto it = m.controlnets.begin(); it != m.controlnets.end();) {
    const bool asked = std::any_of(params.controls.begin(), params.controls.end(),
                                   [&](const ControlRequest& c) { return c.path == it->first; });
    it = asked ? std::next(it) : m.controlnets.erase(it);
  }
  std::vector<ControlNetUse> control_uses;
  for (const ControlRequest& c : params.controls) {
    const ControlNetModel& net = m.controlnet(c.path);
    control_uses.push_back({&net.cfg, net.weights.get()});
  }
  // A mask with a regular UNet: the kept region's latents are put back after every step (denoise.h, KnownRegion).
  const bool keep_known = !m.info.inpainting && !params.mask.empty();
  int out_w, out_h;  // the final size: width x height, or the hires fix's
  check_hires(params, width, height, scale, out_w, out_h);
  const bool hires = out_w != width || out_h != height;
  const int hires_steps = params.hires_steps ? params.hires_steps : params.steps;
  const std::string sched_name = params.scheduler.empty() ? m.info.default_scheduler : params.scheduler;
  // Validates the name and the overrides before any heavy work.
  auto scheduler = make_scheduler(sched_name, m.scheduler_cfg, params.scheduler_overrides);
  // The hires fix's second pass: img2img over the last int(hires_steps * hires_strength) steps.
  int hires_first = 0, hires_iterations = 0;
  if (hires && params.hires_strength > 0) {
    scheduler->set_timesteps(hires_steps);
    hires_first = (hires_steps - int(float(hires_steps) * params.hires_strength)) * scheduler->order();
    hires_iterations = scheduler->iterations() - hires_first;
  }
  // As diffusers' do_classifier_free_guidance: guidance > 1 and a UNet without a guidance embedding.
  const bool guided = params.guidance > 1.0f && m.unet_cfg.time_cond_proj_dim == 0;
  const int lh = height / scale, lw = width / scale, latent_c = m.vae_cfg.latent_channels;

  // The prompt's LoRA tags join the LoRAs asked for; the prompt is encoded without them.
  std::string prompt = params.prompt;
  std::vector<LoraRequest> loras = params.loras;
  for (LoraRequest& tag : take_lora_tags(prompt)) {
    tag.path = find_lora(params.lora_dir, tag.path);
    loras.push_back(std::move(tag));
  }
  // Embeddings asked for, and those of embedding_dir whose word either prompt holds.
  std::vector<EmbeddingRequest> embeddings = params.embeddings;
  for (EmbeddingRequest& found : find_embeddings(params.embedding_dir, {prompt, params.negative_prompt}))
    embeddings.push_back(std::move(found));
  m.use_adapters(loras, params.lora_mode, embeddings);
  prompt = expand_embedding_words(prompt, m.embeddings, *m.conditioner->text_components()[0]);
  const std::string negative = expand_embedding_words(params.negative_prompt, m.embeddings,
                                                      *m.conditioner->text_components()[0]);

  // The control images at a pass's size, for every batch entry; the first pass's made before any network runs.
  const int batch = guided ? 2 : 1;
  const auto controls_at = [&](int w, int h) {
    std::vector<UNetConditioning::Control> out;
    for (size_t c = 0; c < params.controls.size(); ++c) {
      const ControlRequest& r = params.controls[c];
      const FloatImage map = prepare_control_image(r.image, w, h, r.options);
      const std::vector<float> planes = control_image_planes(*control_uses[c].cfg, map.rgb, w, h);
      UNetConditioning::Control ctl{{}, r.scale, r.start, r.end};
      for (int b = 0; b < batch; ++b) ctl.image.insert(ctl.image.end(), planes.begin(), planes.end());
      out.push_back(std::move(ctl));
    }
    return out;
  };
  std::vector<UNetConditioning::Control> first_controls = controls_at(width, height);

  UNetConditioning cond = m.conditioner->encode(prompt, negative, guided, width, height, params.literal_prompt);
  const int context_tokens = int(cond.context.size() / size_t(batch) / size_t(m.unet_cfg.cross_attention_dim));
  cond.controls = std::move(first_controls);
  if (m.unet_cfg.time_cond_proj_dim > 0) {
    // The pipelines embed w = guidance_scale - 1 (Imagen's formulation of the LCM guidance).
    cond.timestep_cond.resize(size_t(m.unet_cfg.time_cond_proj_dim));
    guidance_scale_embedding(double(params.guidance) - 1.0, m.unet_cfg.time_cond_proj_dim,
                             cond.timestep_cond.data());
  }

  // img2img: the init image's latent distribution, once for every image of the call (not needed when an
  // inpainting run starts from pure noise); inpainting: that of the image with the repainted part grey.
  LatentDistribution init_latents, masked_latents;
  if (!init.empty() && !(m.info.inpainting && strength == 1.0f))
    init_latents = encode_image(*m.backend, m.vae_cfg, *m.vae_weights, init, &m.cancelled);
  if (m.info.inpainting) {
    FloatImage masked = init;
    for (size_t p = 0; p < params.mask.size(); ++p)
      if (params.mask[p] >= 0.5f)
        for (size_t c = 0; c < 3; ++c) masked.rgb[p * 3 + c] = 0.5f;
    masked_latents = encode_image(*m.backend, m.vae_cfg, *m.vae_weights, masked, &m.cancelled);
  }

  // The hires pass's working memory, checked before the first pass spends its time.
  if (hires && params.hires_strength > 0)
    check_memory(*m.backend,
                 build_controlled_unet(m.unet_cfg, *m.unet_weights, control_uses, batch, out_h / scale, out_w / scale,
                                       context_tokens),
                 out_w, out_h);
  // The TAESD decoders asked for, checked before any step runs.
  const TaesdModel* final_taesd = params.vae_decoder.empty() ? nullptr : &m.tiny_decoder(params.vae_decoder);
  std::unique_ptr<VaeDecoder> previewer;
  float preview_scale = 1, preview_shift = 0;
  if (!params.preview_decoder.empty() && callbacks.on_preview && callbacks.preview_every > 0) {
    const TaesdModel& t = m.tiny_decoder(params.preview_decoder);
    previewer = std::make_unique<VaeDecoder>(m.backend, t.cfg, t.weights, lh, lw);
    preview_scale = t.cfg.scaling_factor;
    preview_shift = t.cfg.shift_factor;
  }
  const bool sdxl_latents = m.info.family.starts_with("sdxl");
  const auto preview = [&](const std::vector<float>& x, int plw, int plh) {
    if (!previewer) return latent_preview(x.data(), plw, plh, sdxl_latents);
    std::vector<float> z = x;
    for (float& v : z) v = v / preview_scale + preview_shift;
    return decoded_to_rgb(previewer->decode(z, &m.cancelled).data(), plw * scale, plh * scale);
  };

  // All images are denoised with one compiled UNet, then decoded with one compiled VAE: each network is compiled
  // once per call, and only one activation arena is alive at a time (a TAESD previewer's besides the UNet's).
  std::vector<std::vector<float>> latents(size_t(params.batch_count));
  int first_iterations = 0;  // of the first pass, per image
  {
    auto unet = build_controlled_unet(m.unet_cfg, *m.unet_weights, control_uses, batch, lh, lw, context_tokens);
    check_memory(*m.backend, unet, width, height);
    auto exe = m.backend->compile(unet.graph);
    for (int img = 0; img < params.batch_count; ++img) {
      scheduler->set_timesteps(params.steps);
      TorchGenerator gen(params.seed + uint64_t(img));
      std::vector<float>& x0 = latents[size_t(img)];
      int first = 0;  // the iteration the run starts at
      KnownRegion known;
      const float sigma = float(scheduler->init_noise_sigma());
      if (init_latents.mean.empty()) {
        x0 = gen.randn(size_t(latent_c) * size_t(lh) * size_t(lw));
        for (auto& v : x0) v *= sigma;
      } else {
        // As diffusers' img2img: the last int(steps * strength) steps run, on the init latents (sampled with
        // this image's generator, scaled) noised by add_noise to where they start, with noise drawn next. Its
        // inpainting pipeline with a 4-channel UNet starts from pure noise at strength 1 instead.
        first = (params.steps - int(float(params.steps) * strength)) * scheduler->order();
        std::vector<float> image = init_latents.sample(gen);
        for (auto& v : image) v = (v - m.vae_cfg.shift_factor) * m.vae_cfg.scaling_factor;
        std::vector<float> noise = gen.randn(image.size());
        if (keep_known && strength == 1.0f) {
          x0 = noise;
          for (auto& v : x0) v *= sigma;
        } else {
          x0 = image;
          scheduler->add_noise(x0, noise, first);
        }
        if (keep_known) {
          // diffusers samples the masked image's latents here, which a 4-channel UNet never reads: the same draws
          // keep the generator where diffusers' is for the steps' noise.
          gen.randn(image.size());
          known = {std::move(image), std::move(noise), latent_mask(params, scale, lh, lw)};
        }
      }
      if (m.info.inpainting)
        cond.concat = inpainting_input(params, masked_latents, scale, m.vae_cfg.scaling_factor, gen);
      const int iterations = first_iterations = scheduler->iterations() - first;
      denoise(*exe, unet, m.unet_cfg, *scheduler, x0, cond, guided ? params.guidance : 1.0f, gen,
              [&](int i, const std::vector<float>& x) {
                const int done = i - first + 1;
                if (m.cancelled) return false;
                if (callbacks.on_latents) callbacks.on_latents(img, done, x);
                if (callbacks.on_preview && callbacks.preview_every > 0 && done % callbacks.preview_every == 0)
                  callbacks.on_preview(img, done, preview(x, lw, lh));
                if (callbacks.on_progress && !callbacks.on_progress(img, done, iterations + hires_iterations))
                  return false;
                return !m.cancelled.load();
              }, first, keep_known ? &known : nullptr);
    }
  }
  previewer.reset();
  if (hires) {
    const int hlh = out_h / scale, hlw = out_w / scale;
    if (!params.preview_decoder.empty() && callbacks.on_preview && callbacks.preview_every > 0) {
      const TaesdModel& t = m.tiny_decoder(params.preview_decoder);
      previewer = std::make_unique<VaeDecoder>(m.backend, t.cfg, t.weights, hlh, hlw);
    }
    // Upscaled: the latents bilinearly, or the decoded picture (8-bit, as the first pass would be saved) encoded
    // again, sampled with the image's generator as img2img samples its image.
    std::vector<LatentDistribution> encoded(latents.size());
    if (params.hires_upscaler == "image") {
      VaeDecoder first_vae(m.backend, m.vae_cfg, m.vae_weights, lh, lw);
      for (size_t i = 0; i < latents.size(); ++i) {
        std::vector<float> z = latents[i];
        for (auto& v : z) v = v / m.vae_cfg.scaling_factor + m.vae_cfg.shift_factor;
        const FloatImage picture = to_float(decoded_to_rgb(first_vae.decode(z, &m.cancelled).data(), width, height));
        std::vector<float> planes(picture.rgb.size());
        const size_t n = size_t(width) * size_t(height);
        for (size_t p = 0; p < n; ++p)
          for (size_t c = 0; c < 3; ++c) planes[c * n + p] = picture.rgb[p * 3 + c];
        const std::vector<float> big = resize_bilinear(planes, 3, height, width, out_h, out_w);
        FloatImage up{out_w, out_h, std::vector<float>(big.size())};
        const size_t N = size_t(out_w) * size_t(out_h);
        for (size_t p = 0; p < N; ++p)
          for (size_t c = 0; c < 3; ++c) up.rgb[p * 3 + c] = std::clamp(big[c * N + p], 0.0f, 1.0f);
        encoded[i] = encode_image(*m.backend, m.vae_cfg, *m.vae_weights, up, &m.cancelled);
      }
    }
    std::unique_ptr<Executable> exe;
    UNetGraph unet;
    if (params.hires_strength > 0) {
      // SDXL conditions on the size: its second pass takes the final size's time ids (the text is the same, so
      // only the added conditioning changes); SD 1.x/2.x conditioning does not depend on the size.
      if (!cond.added.empty()) {
        UNetConditioning big = m.conditioner->encode(prompt, negative, guided, out_w, out_h, params.literal_prompt);
        cond.added = std::move(big.added);
      }
      unet = build_controlled_unet(m.unet_cfg, *m.unet_weights, control_uses, batch, hlh, hlw, context_tokens);
      cond.controls = controls_at(out_w, out_h);
      check_memory(*m.backend, unet, out_w, out_h);
      exe = m.backend->compile(unet.graph);
    }
    for (int img = 0; img < params.batch_count; ++img) {
      std::vector<float>& x = latents[size_t(img)];
      TorchGenerator gen(params.seed + uint64_t(img));
      if (params.hires_upscaler == "image") {
        x = encoded[size_t(img)].sample(gen);
        for (auto& v : x) v = (v - m.vae_cfg.shift_factor) * m.vae_cfg.scaling_factor;
      } else {
        x = resize_bilinear(x, latent_c, lh, lw, hlh, hlw);
      }
      if (!exe) continue;  // strength 0: the upscaled first pass as it is
      scheduler->set_timesteps(hires_steps);
      scheduler->add_noise(x, gen.randn(x.size()), hires_first);
      denoise(*exe, unet, m.unet_cfg, *scheduler, x, cond, guided ? params.guidance : 1.0f, gen,
              [&](int i, const std::vector<float>& now) {
                const int done = i - hires_first + 1;
                if (m.cancelled) return false;
                if (callbacks.on_latents) callbacks.on_latents(img, first_iterations + done, now);
                if (callbacks.on_preview && callbacks.preview_every > 0 && done % callbacks.preview_every == 0)
                  callbacks.on_preview(img, first_iterations + done, preview(now, hlw, hlh));
                if (callbacks.on_progress &&
                    !callbacks.on_progress(img, first_iterations + done, first_iterations + hires_iterations))
                  return false;
                return !m.cancelled.load();
              }, hires_first);
    }
  }
  // In tiles where one piece exceeds the device. TAESD takes the UNet's latents as they are (its factors: 1, 0).
  const int dlh = out_h / scale, dlw = out_w / scale;
  VaeDecoder vae = final_taesd ? VaeDecoder(m.backend, final_taesd->cfg, final_taesd->weights, dlh, dlw)
                               : VaeDecoder(m.backend, m.vae_cfg, m.vae_weights, dlh, dlw);
  const float scaling = final_taesd ? final_taesd->cfg.scaling_factor : m.vae_cfg.scaling_factor;
  const float shift = final_taesd ? final_taesd->cfg.shift_factor : m.vae_cfg.shift_factor;
  std::vector<RgbImage> images;
  for (auto& z : latents) {
    for (auto& v : z) v = v / scaling + shift;
    const std::vector<float> decoded = vae.decode(z, &m.cancelled);
    images.push_back(decoded_to_rgb(decoded.data(), out_w, out_h));
  }
  return images;
}

}  // namespace websd
