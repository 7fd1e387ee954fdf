#include "pipeline/parameters_text.h"

#include <cstdio>
#include <filesystem>
#include <utility>

namespace websd {
namespace {

std::string number(float v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", double(v));
  return buf;
}

std::string stem(const std::string& path) { return std::filesystem::path(path).stem().string(); }

}  // namespace

std::string sampler_display_name(const std::string& name) {
  static const std::pair<const char*, const char*> kNames[] = {
      {"pndm", "PLMS"},           {"ddim", "DDIM"},           {"euler", "Euler"},
      {"euler_a", "Euler a"},     {"euler_karras", "Euler Karras"}, {"dpmpp_2m", "DPM++ 2M"},
      {"dpmpp_2m_karras", "DPM++ 2M Karras"}, {"heun", "Heun"}, {"unipc", "UniPC"},
      {"lcm", "LCM"}};
  for (auto [n, d] : kNames)
    if (name == n) return d;
  return name;
}

std::string parameters_text(const GenerateParams& p, const ParametersContext& c) {
  // LoRAs given as options are recorded as the prompt tags that ask for them (what the web UI writes).
  std::string s = p.prompt;
  for (const LoraRequest& l : p.loras) s += " <lora:" + stem(l.path) + ":" + number(l.unet_scale) + ">";
  s += "\n";
  if (!p.negative_prompt.empty()) s += "Negative prompt: " + p.negative_prompt + "\n";
  s += "Steps: " + std::to_string(p.steps) + ", Sampler: " + sampler_display_name(c.scheduler) +
       ", CFG scale: " + number(p.guidance) + ", Seed: " + std::to_string(c.seed) + ", Size: " +
       std::to_string(c.width) + "x" + std::to_string(c.height) + ", Model: " + c.model + ", Scheduler: " + c.scheduler;
  std::string overrides;
  for (const auto& [key, value] : p.scheduler_overrides.items())
    overrides += (overrides.empty() ? "" : " ") + key + "=" + (value.is_string() ? value.get<std::string>() : value.dump());
  if (!overrides.empty()) s += ", Scheduler config: " + overrides;
  if (!p.init_image.empty())
    s += ", Denoising strength: " + number(p.strength != 0 ? p.strength : p.mask.empty() ? 0.8f : 1.0f);
  if (p.hires_scale > 1) {
    // As the web UI writes a hires fix: its strength as the denoising strength, its steps only when set.
    if (p.init_image.empty()) s += ", Denoising strength: " + number(p.hires_strength);
    s += ", Hires upscale: " + number(p.hires_scale);
    if (p.hires_steps) s += ", Hires steps: " + std::to_string(p.hires_steps);
    s += std::string(", Hires upscaler: ") + (p.hires_upscaler == "image" ? "image" : "Latent");
  }
  std::string embeddings;
  for (const EmbeddingRequest& e : p.embeddings) embeddings += (embeddings.empty() ? "" : " ") + embedding_word(e);
  if (!embeddings.empty()) s += ", Embeddings: " + embeddings;
  if (p.literal_prompt) s += ", Prompt syntax: literal";
  if (!p.vae_decoder.empty()) s += ", VAE: " + std::filesystem::path(p.vae_decoder).filename().string();
  // As the web UI's ControlNet extension records its units.
  for (size_t i = 0; i < p.controls.size(); ++i) {
    const ControlRequest& c = p.controls[i];
    const ControlImageOptions& o = c.options;
    std::string unit = std::string("Module: ") + control_preprocessor_name(o.preprocessor) +
                       ", Model: " + stem(c.path) + ", Weight: " + number(c.scale) + ", Resize Mode: " +
                       (o.resize == ControlResize::kCrop ? "Crop and Resize" : "Just Resize");
    if (o.preprocessor == ControlPreprocessor::kCanny)
      unit += ", Threshold A: " + number(float(o.canny_low)) + ", Threshold B: " + number(float(o.canny_high));
    if (o.invert) unit += ", Invert: True";
    unit += ", Guidance Start: " + number(float(c.start)) + ", Guidance End: " + number(float(c.end));
    s += ", ControlNet " + std::to_string(i) + ": \"" + unit + "\"";
  }
  return s;
}

}  // namespace websd
