#include "pipeline/stable_diffusion.h"

#include <cmath>

#include "core/error.h"
#include "io/model_source.h"
#include "models/clip_text_encoder.h"
#include "models/unet.h"
#include "models/vae.h"
#include "pipeline/denoise.h"
#include "sampling/torch_rng.h"
#include "schedulers/scheduler.h"
#include "text/clip_tokenizer.h"

namespace websd {

struct StableDiffusion::Impl {
  std::shared_ptr<Backend> backend;
  std::unique_ptr<ModelSource> source;
  ModelInfo info;
  std::unique_ptr<ClipTokenizer> tokenizer;
  ClipTextConfig text_cfg;
  UNetConfig unet_cfg;
  VaeConfig vae_cfg;
  Config scheduler_cfg;
  std::shared_ptr<WeightSource> text_weights, unet_weights, vae_weights;
  std::atomic<bool> cancelled{false};

  // [batch, 77, D] last hidden states for the given prompts.
  std::vector<float> encode(const std::vector<std::string>& prompts) {
    auto net = build_clip_text_encoder(text_cfg, *text_weights, int(prompts.size()));
    auto exe = backend->compile(net.graph);
    std::vector<int32_t> ids;
    for (const auto& p : prompts) {
      auto one = tokenizer->encode_padded(p, text_cfg.max_positions);
      ids.insert(ids.end(), one.begin(), one.end());
    }
    exe->set_input(net.ids, ids.data());
    exe->run(&cancelled);
    std::vector<float> out(size_t(net.graph->shape(net.last_hidden).numel()));
    exe->read(net.last_hidden, out.data());
    return out;
  }
};

StableDiffusion::StableDiffusion() : impl_(std::make_unique<Impl>()) {}
StableDiffusion::~StableDiffusion() = default;
const ModelInfo& StableDiffusion::info() const { return impl_->info; }
void StableDiffusion::cancel() { impl_->cancelled = true; }

std::unique_ptr<StableDiffusion> StableDiffusion::open(const std::string& path, std::shared_ptr<Backend> backend,
                                                       const ModelSourceOptions& options) {
  std::unique_ptr<StableDiffusion> sd(new StableDiffusion());
  Impl& m = *sd->impl_;
  m.backend = std::move(backend);
  m.source = open_model_source(path, options);
  ModelSource& src = *m.source;
  const std::string cls = src.pipeline_class();
  if (cls != "StableDiffusionPipeline")
    throw Error(ErrorCode::kUnsupported, path + ": pipeline class " + cls +
                                             " is not supported yet; websd runs StableDiffusionPipeline (SD 1.x, 2.x)");
  for (const char* c : {"text_encoder", "tokenizer", "unet", "vae", "scheduler"})
    if (!src.has_component(c))
      throw Error(ErrorCode::kCorruptFile, path + ": the pipeline has no " + c + " component");
  m.tokenizer = std::make_unique<ClipTokenizer>(ClipTokenizer::from_folder(src.tokenizer_dir("tokenizer")));
  m.text_cfg = ClipTextConfig::from(src.config("text_encoder"));
  const Config unet_config = src.config("unet");
  m.unet_cfg = UNetConfig::from(unet_config);
  m.vae_cfg = VaeConfig::from(src.config("vae"));
  m.scheduler_cfg = src.config("scheduler");
  m.text_weights = src.weights("text_encoder");
  m.unet_weights = src.weights("unet");
  m.vae_weights = src.weights("vae");
  if (m.unet_cfg.cross_attention_dim != m.text_cfg.hidden_size)
    throw Error(ErrorCode::kCorruptFile, path + ": the UNet expects text features of width " +
                                             std::to_string(m.unet_cfg.cross_attention_dim) +
                                             " but the text encoder produces " + std::to_string(m.text_cfg.hidden_size));
  m.info.path = path;
  m.info.family = m.text_cfg.act == "gelu" ? "sd2" : "sd1";
  m.info.prediction_type = m.scheduler_cfg.get_string("prediction_type", "epsilon");
  m.info.default_scheduler = scheduler_name_for_class(m.scheduler_cfg.get_string("_class_name", ""));
  if (m.info.default_scheduler.empty()) m.info.default_scheduler = "pndm";
  const int native = unet_config.get_int("sample_size", 64) * m.vae_cfg.downscale();
  m.info.native_width = m.info.native_height = native;
  return sd;
}

std::vector<RgbImage> StableDiffusion::generate(const GenerateParams& params, const GenerateCallbacks& callbacks) {
  Impl& m = *impl_;
  m.cancelled = false;
  const int width = params.width ? params.width : m.info.native_width;
  const int height = params.height ? params.height : m.info.native_height;
  const int scale = m.vae_cfg.downscale();
  if (width <= 0 || height <= 0 || width % scale || height % scale)
    throw Error(ErrorCode::kInvalidArgument, "width and height must be positive multiples of " +
                                                 std::to_string(scale) + " (got " + std::to_string(width) + "x" +
                                                 std::to_string(height) + ")");
  if (params.steps < 1 || params.steps > 1000)
    throw Error(ErrorCode::kInvalidArgument, "steps must be between 1 and 1000 (got " + std::to_string(params.steps) + ")");
  if (params.batch_count < 1) throw Error(ErrorCode::kInvalidArgument, "batch count must be at least 1");
  if (!std::isfinite(params.guidance) || params.guidance < 0)
    throw Error(ErrorCode::kInvalidArgument, "guidance must be a finite number >= 0");
  const std::string sched_name = params.scheduler.empty() ? m.info.default_scheduler : params.scheduler;
  auto scheduler = make_scheduler(sched_name, m.scheduler_cfg);  // validates the name before any heavy work
  const bool guided = params.guidance > 1.0f;
  const int lh = height / scale, lw = width / scale, lc = m.unet_cfg.in_channels;

  // Text features: [uncond; cond] with guidance, cond alone without.
  const std::vector<float> context =
      guided ? m.encode({params.negative_prompt, params.prompt}) : m.encode({params.prompt});

  std::vector<RgbImage> images;
  for (int img = 0; img < params.batch_count; ++img) {
    std::vector<float> latents;
    {
      auto unet = build_unet(m.unet_cfg, *m.unet_weights, guided ? 2 : 1, lh, lw, m.text_cfg.max_positions);
      auto exe = m.backend->compile(unet.graph);
      scheduler->set_timesteps(params.steps);
      TorchGenerator gen(params.seed + uint64_t(img));
      latents = gen.randn(size_t(lc) * size_t(lh) * size_t(lw));
      const float sigma = float(scheduler->init_noise_sigma());
      for (auto& v : latents) v *= sigma;
      const int iterations = scheduler->iterations();
      denoise(*exe, unet, m.unet_cfg, *scheduler, latents, context, guided ? params.guidance : 1.0f, gen,
              [&](int i, const std::vector<float>& x) {
                if (m.cancelled) return false;
                if (callbacks.on_preview && callbacks.preview_every > 0 && (i + 1) % callbacks.preview_every == 0)
                  callbacks.on_preview(img, i + 1, latent_preview(x.data(), lw, lh));
                if (callbacks.on_progress && !callbacks.on_progress(img, i + 1, iterations)) return false;
                return !m.cancelled.load();
              });
    }
    auto vae = build_vae_decoder(m.vae_cfg, *m.vae_weights, 1, lh, lw);
    auto exe = m.backend->compile(vae.graph);
    for (auto& v : latents) v = v / m.vae_cfg.scaling_factor + m.vae_cfg.shift_factor;
    exe->set_input(vae.latents, latents.data());
    exe->run(&m.cancelled);
    std::vector<float> decoded(size_t(vae.graph->shape(vae.image).numel()));
    exe->read(vae.image, decoded.data());
    images.push_back(decoded_to_rgb(decoded.data(), width, height));
  }
  return images;
}

}  // namespace websd
