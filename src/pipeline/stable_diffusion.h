// Text-to-image with a Stable Diffusion model: tokenizer(s) -> text encoder(s) -> denoising loop (UNet +
// scheduler, classifier-free guidance) -> VAE decoder -> RGB. Matches diffusers for the same seed: its
// StableDiffusionPipeline (SD 1.x/2.x, SD-Turbo), StableDiffusionXLPipeline (SDXL) and
// LatentConsistencyModelPipeline (LCM); family.h says which a model folder is.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "adapters/embedding.h"
#include "adapters/lora.h"
#include "backends/backend.h"
#include "io/model_source.h"
#include "pipeline/control_image.h"
#include "pipeline/image.h"

namespace websd {

// One ControlNet of a generation, as diffusers' StableDiffusionControlNetPipeline takes it (several at once:
// MultiControlNetModel, their residuals summed).
struct ControlRequest {
  std::string path;  // a ControlNet folder, .safetensors file or web pack (models/controlnet.h)
  // Any size: fitted to the generation size and preprocessed by `options` (prepare_control_image) before it is used.
  FloatImage image;
  ControlImageOptions options;
  float scale = 1.0f;  // controlnet_conditioning_scale, in [0, 10]
  // control_guidance_start / end: the fractions of the iterations it acts on (step i of n when i/n >= start and
  // (i+1)/n <= end), 0 <= start < end <= 1.
  double start = 0.0, end = 1.0;  // doubles, as Python compares them: 0.3 stays 0.3
};

struct GenerateParams {
  // Read as the widely used web UI reads them (README "Prompts"): (word:1.3), (word), [word] and \( escapes weigh
  // words, BREAK starts a new chunk, and a prompt of any length is encoded in chunks of 75 tokens.
  std::string prompt;
  std::string negative_prompt;
  // Read the prompts as diffusers does instead: brackets are text, and tokens after the 75th are cut.
  bool literal_prompt = false;
  int width = 0, height = 0;  // 0: the model's native size (unet sample_size × VAE scale)
  int steps = 20;
  float guidance = 7.5f;      // <= 1 disables classifier-free guidance (one UNet pass per step); models that
                              // embed the guidance scale (LCM) take it as the embedding, without a second pass
  uint64_t seed = 0;
  std::string scheduler;      // "" = the model's own (scheduler_config.json)
  // Values that override the model's scheduler config, as diffusers' from_config(config, **overrides) does:
  // e.g. {"timestep_spacing": "trailing"} for SD-Turbo style sampling. Keys the sampler does not read are an
  // Error(kInvalidArgument).
  nlohmann::json scheduler_overrides = nlohmann::json::object();
  int batch_count = 1;        // images generated one after another, image i with seed + i
  // img2img (diffusers' StableDiffusionImg2ImgPipeline): the image to start from, width x height (the size
  // defaults to it), and how much of the schedule runs over it: the last int(steps * strength) steps, from its
  // VAE latents noised to that point (1 = from pure noise). 0 = the pipeline's default: 0.8, 1 for inpainting.
  FloatImage init_image;
  float strength = 0.0f;
  // Inpainting (StableDiffusionInpaintPipeline): which pixels of init_image to repaint. An inpainting model's UNet
  // takes the mask and the masked image; with any other the kept region's latents are put back after every step
  // (denoise.h, KnownRegion). Strength defaults to 1 with a mask.
  // init_image.width x init_image.height values, >= 0.5 = repaint (white in a mask picture), < 0.5 = keep.
  std::vector<float> mask;
  // LoRAs merged into the UNet and text encoder(s) for this call, with the prompt's <lora:NAME:SCALE> tags
  // (cut out of the prompt; NAME is looked up in lora_dir). Weights the LoRAs do not touch are not re-read or
  // re-uploaded when the set changes; the same set as the last call reuses its merged weights.
  std::vector<LoraRequest> loras;
  std::string lora_dir;
  // Merged into the weights (the default: steps as fast as without LoRA) or applied at run time (no second copy
  // of the adapted weights, slower steps): adapters/lora.h, docs/lora.md.
  LoraMode lora_mode = LoraMode::kMerged;
  // Textual inversion embeddings for this call: each file's word (its own, or the file's stem) stands for its
  // vectors in the prompt and the negative prompt. Every NAME.safetensors in embedding_dir whose NAME appears in
  // either prompt is used too, as the widely used web UI does.
  std::vector<EmbeddingRequest> embeddings;
  std::string embedding_dir;
  // AutoencoderTiny (TAESD) folders, as diffusers saves them: vae_decoder draws the final images with it instead of
  // the model's VAE (many times faster, a little less detail), preview_decoder draws the previews (at full size)
  // instead of the cheap latent-to-RGB map. Use the TAESD of the model's latent space (taesd for SD 1.x/2.x,
  // taesdxl for SDXL): another decodes wrong colours and cannot be told apart by its files.
  std::string vae_decoder, preview_decoder;
  // Hires fix (two passes, as the widely used web UI makes them): with hires_scale > 1 the image is generated at
  // width x height, upscaled to hires_scale times that (each side rounded down to the VAE's multiple), and denoised
  // again from there as img2img does, over the last int(hires_steps * hires_strength) of hires_steps steps (0 = steps)
  // with the same prompts and seed. hires_upscaler "latent" (the web UI's default) resizes the latents bilinearly;
  // "image" decodes them, resizes the picture bilinearly and encodes it again. hires_strength 0 keeps the upscaled
  // first pass as it is.
  // ControlNets guiding the composition (a hires fix's second pass too, with the control images fitted to its
  // size). Not with inpainting models.
  std::vector<ControlRequest> controls;
  float hires_scale = 1.0f;
  float hires_strength = 0.7f;
  int hires_steps = 0;
  std::string hires_upscaler = "latent";
};

struct GenerateCallbacks {
  // After each loop iteration: image index, iteration (1-based), iterations per image (both passes of a hires fix).
  // Return false to cancel.
  std::function<bool(int image, int step, int steps)> on_progress;
  // Every `preview_every` iterations (0: never): the image so far, decoded by GenerateParams::preview_decoder at full
  // size, or else a cheap latent-to-RGB preview at latent resolution.
  int preview_every = 0;
  std::function<void(int image, int step, const RgbImage& preview)> on_preview;
  // After each iteration, the latents themselves ([C, h, w], what diffusers' callback_on_step_end sees).
  std::function<void(int image, int step, const std::vector<float>& latents)> on_latents;
};

struct ModelInfo {
  std::string path;
  std::string pipeline_class;   // "StableDiffusionPipeline", "StableDiffusionXLPipeline", ...
  std::string family;           // "sd1", "sd2", "sdxl"; "-lcm" appended for guidance-embedding UNets
  std::string family_description;
  bool guidance_embedding = false;  // the guidance scale enters the UNet as an embedding (no unconditional pass)
  bool inpainting = false;          // an inpainting UNet: generate() needs init_image and mask
  std::string prediction_type;  // "epsilon", "v_prediction"
  std::string default_scheduler;
  int native_width = 512, native_height = 512;
};

class StableDiffusion {
 public:
  // `path`: a diffusers pipeline folder or a single-file .safetensors checkpoint. Errors name the file and the
  // problem.
  static std::unique_ptr<StableDiffusion> open(const std::string& path, std::shared_ptr<Backend> backend,
                                               const ModelSourceOptions& options = {});
  // Any other source of a pipeline's parts (a synthetic model of a named architecture, for benchmarks).
  static std::unique_ptr<StableDiffusion> open(std::unique_ptr<ModelSource> source, std::shared_ptr<Backend> backend);
  ~StableDiffusion();

  const ModelInfo& info() const;
  // The tokens of each chunk (chunk_size tokens: 75) the (first) text encoder reads for `prompt`
  // (prompt_token_counts in text_conditioning.h), with the embeddings of the last generate(). Called beside a
  // generate(), it waits for it to end.
  struct PromptTokens {
    std::vector<int> counts;
    int chunk_size = 0;
  };
  PromptTokens prompt_tokens(const std::string& prompt, bool literal) const;
  // Throws Error: kInvalidArgument for bad parameters, kCancelled when a callback or cancel() stopped it. Calls from
  // several threads at once are queued: each runs whole, one after the other.
  std::vector<RgbImage> generate(const GenerateParams& params, const GenerateCallbacks& callbacks = {});
  // Thread-safe: stops a running generate() at the next step or node boundary; called while none runs, it stops
  // the next one at its first boundary.
  void cancel();

 private:
  StableDiffusion();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace websd
