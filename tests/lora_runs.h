// diffusers' LoRA reference runs on tiny-sd1 (fixtures README, tiny-sd1-creative: load_lora_weights then
// fuse_lora(lora_scale)), one table for the cpu tests (test_lora.cpp) and the webgpu parity checks
// (web/model_parity.cpp): the runs, their arguments as GenerateParams, and the networks' outputs with a LoRA.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "adapters/lora.h"
#include "backends/backend.h"
#include "creative_runs.h"
#include "io/model_source.h"
#include "io/safetensors.h"
#include "models/unet.h"
#include "pipeline/stable_diffusion.h"
#include "pipeline/text_conditioning.h"

namespace websd::test {

struct LoraRun {
  const char* run;        // key of reference.json's "runs" (and prefix of its tensors)
  const char* file;       // in tiny-sd1-creative/
  float scale;
  const char* scheduler;  // websd's name
};
inline constexpr LoraRun kLoraRuns[] = {{"lora_kohya_s08", "lora_kohya.safetensors", 0.8f, "euler_a"},
                                        {"lora_diffusers_s08", "lora_diffusers.safetensors", 0.8f, "pndm"},
                                        {"lora_kohya_s10", "lora_kohya.safetensors", 1.0f, "pndm"}};

// The LoRA runs' seed. The fixtures README gives none; the runs' first latents correlate 0.84-0.95 with
// randn(2468) and with no other seed below 200000 (those of ti_dpmpp_2m with 1357, the ControlNet runs' with 97531).
inline constexpr uint64_t kLoraSeed = 2468;

// The run's arguments (creative_runs.h) with the LoRA.
inline GenerateParams lora_run_params(const nlohmann::json& run, const LoraRun& r, const std::string& creative_dir) {
  GenerateParams p = creative_run_params(run, kLoraSeed, r.scheduler);
  p.loras = {{creative_dir + "/" + r.file, r.scale, r.scale}};
  return p;
}

struct LoraNetworkOutputs {
  std::vector<int32_t> ids;     // the tokenizer's, for [negative, prompt]: the fixture's lora_ids
  std::vector<float> text_ctx;  // the text encoder's last hidden state for them, with the LoRA
  std::vector<float> unet_out;  // unet(lora_unet_in, t=981, the fixture's text_ctx), with the LoRA
};

// tiny-sd1's text encoder and UNet on `backend` with run `r`'s LoRA applied (merged or at run time), on the
// fixture's inputs.
inline LoraNetworkOutputs lora_network_outputs(Backend& backend, const std::string& fixtures, const LoraRun& r,
                                               LoraMode mode = LoraMode::kMerged) {
  const std::string creative = fixtures + "/tiny-sd1-creative";
  const auto model = open_model_source(fixtures + "/tiny-sd1/model");
  const SafetensorsFile ref = SafetensorsFile::open(creative + "/reference.safetensors");
  const nlohmann::json info = Config::load(creative + "/reference.json").json();
  const UNetConfig ucfg = UNetConfig::from(model->config("unet"));
  ClipTextComponent text = ClipTextComponent::load(*model, "text_encoder", "tokenizer");
  const auto w = apply_loras({{"unet", model->weights("unet")}, {"text_encoder", text.weights}}, ucfg,
                             {{LoraFile::open(creative + "/" + r.file), r.scale, r.scale}}, mode);
  text.weights = w.at("text_encoder");
  LoraNetworkOutputs out;
  ClipTextOutputs t = encode_text(backend, text, {info["negative_prompt"], info["prompt"]});
  out.ids = std::move(t.ids);
  out.text_ctx = std::move(t.last_hidden);

  const Shape in = ref.get("lora_unet_in").shape;
  auto net = build_unet(ucfg, *w.at("unet"), int(in[0]), int(in[2]), int(in[3]));
  auto exe = backend.compile(net.graph);
  std::vector<float> tp(size_t(in[0]) * size_t(ucfg.block_out_channels[0]));
  for (int64_t b = 0; b < in[0]; ++b) unet_time_features(ucfg, 981.0f, tp.data() + b * ucfg.block_out_channels[0]);
  exe->set_input(net.sample, ref.get("lora_unet_in").to_f32().data());
  exe->set_input(net.time_proj, tp.data());
  exe->set_input(net.context, ref.get(std::string(r.run) + "/text_ctx").to_f32().data());
  exe->run();
  out.unet_out.resize(size_t(net.graph->shape(net.out).numel()));
  exe->read(net.out, out.unet_out.data());
  return out;
}

}  // namespace websd::test
