// Text-to-image with a Stable Diffusion 1.x/2.x model: tokenizer -> text encoder -> denoising loop (UNet +
// scheduler, classifier-free guidance) -> VAE decoder -> RGB. Matches diffusers' StableDiffusionPipeline for the
// same seed.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "io/model_source.h"
#include "pipeline/image.h"

namespace websd {

struct GenerateParams {
  std::string prompt;
  std::string negative_prompt;
  int width = 0, height = 0;  // 0: the model's native size (unet sample_size × VAE scale)
  int steps = 20;
  float guidance = 7.5f;      // <= 1 disables classifier-free guidance (one UNet pass per step)
  uint64_t seed = 0;
  std::string scheduler;      // "" = the model's own (scheduler_config.json)
  int batch_count = 1;        // images generated one after another, image i with seed + i
};

struct GenerateCallbacks {
  // After each loop iteration: image index, iteration (1-based), iterations per image. Return false to cancel.
  std::function<bool(int image, int step, int steps)> on_progress;
  // Every `preview_every` iterations (0: never): a cheap latent preview at latent resolution.
  int preview_every = 0;
  std::function<void(int image, int step, const RgbImage& preview)> on_preview;
};

struct ModelInfo {
  std::string path;
  std::string family;           // "sd1", "sd2"
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
  ~StableDiffusion();

  const ModelInfo& info() const;
  // Throws Error: kInvalidArgument for bad parameters, kCancelled when a callback or cancel() stopped it.
  std::vector<RgbImage> generate(const GenerateParams& params, const GenerateCallbacks& callbacks = {});
  // Thread-safe: stops a running generate() at the next step or node boundary.
  void cancel();

 private:
  StableDiffusion();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace websd
