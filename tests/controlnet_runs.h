// diffusers' ControlNet reference runs on tiny-sd1 (fixtures README, tiny-sd1-creative/controlnet:
// StableDiffusionControlNetPipeline), one table for the cpu tests (test_controlnet.cpp) and the webgpu parity checks
// (web/model_parity.cpp): the runs, their arguments as GenerateParams, and the ControlNet's residuals alone.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "creative_runs.h"
#include "io/model_source.h"
#include "io/safetensors.h"
#include "models/controlnet.h"
#include "models/unet.h"
#include "pipeline/stable_diffusion.h"
#include "pipeline/text_conditioning.h"

namespace websd::test {

struct ControlRun {
  const char* run;        // key of reference.json's "runs" (and prefix of its tensors)
  float scale;            // controlnet_conditioning_scale
  const char* scheduler;  // websd's name
};
inline constexpr ControlRun kControlRuns[] = {{"controlnet_pndm", 1.0f, "pndm"},
                                              {"controlnet_euler_a_half", 0.5f, "euler_a"}};

// The runs' seed. The fixtures README gives none; the runs' first latents correlate with randn(97531) and no other
// seed below 200000.
inline constexpr uint64_t kControlSeed = 97531;

// The fixture's control_image [64, 64, 3] in [0, 1].
inline FloatImage fixture_control_image(const SafetensorsFile& ref) {
  const TensorView& t = ref.get("control_image");
  return {int(t.shape[1]), int(t.shape[0]), t.to_f32()};
}

// The run's arguments (creative_runs.h) with the ControlNet and the control image as it is.
inline GenerateParams control_run_params(const nlohmann::json& run, const ControlRun& r, const std::string& creative_dir,
                                         const SafetensorsFile& ref) {
  GenerateParams p = creative_run_params(run, kControlSeed, r.scheduler);
  ControlRequest c;
  c.path = creative_dir + "/controlnet";
  c.image = fixture_control_image(ref);
  c.scale = r.scale;
  p.controls = {c};
  return p;
}

// The ControlNet's residuals (down_0 … down_n, then mid) on `backend` for the fixture's inputs: lora_unet_in at
// t = 981, the plain text encoder's output for [negative, prompt], the control image for both entries, scale 1.
inline std::vector<std::vector<float>> controlnet_residuals(Backend& backend, const std::string& fixtures) {
  const std::string creative = fixtures + "/tiny-sd1-creative";
  const auto model = open_model_source(fixtures + "/tiny-sd1/model");
  const SafetensorsFile ref = SafetensorsFile::open(creative + "/reference.safetensors");
  const nlohmann::json info = Config::load(creative + "/reference.json").json();
  const UNetConfig ucfg = UNetConfig::from(model->config("unet"));
  const ControlNetModel cn = ControlNetModel::open(creative + "/controlnet");
  const ClipTextComponent text = ClipTextComponent::load(*model, "text_encoder", "tokenizer");
  const ClipTextOutputs ctx = encode_text(backend, text, {info["negative_prompt"], info["prompt"]});

  const Shape in = ref.get("lora_unet_in").shape;
  const UNetGraph net = build_controlnet(cn.cfg, *cn.weights, ucfg, int(in[0]), int(in[2]), int(in[3]));
  auto exe = backend.compile(net.graph);
  std::vector<float> tp(size_t(in[0]) * size_t(ucfg.block_out_channels[0]));
  for (int64_t b = 0; b < in[0]; ++b) unet_time_features(ucfg, 981.0f, tp.data() + b * ucfg.block_out_channels[0]);
  const FloatImage image = fixture_control_image(ref);
  std::vector<float> images = control_image_planes(cn.cfg, image.rgb, image.width, image.height);
  images.insert(images.end(), images.begin(), images.end());
  const float scale = 1.0f;
  exe->set_input(net.sample, ref.get("lora_unet_in").to_f32().data());
  exe->set_input(net.time_proj, tp.data());
  exe->set_input(net.context, ctx.last_hidden.data());
  exe->set_input(net.control_images[0], images.data());
  exe->set_input(net.control_scales[0], &scale);
  exe->run();
  std::vector<std::vector<float>> out;  // the outputs in order: down_0 … down_n, mid
  for (TensorId t : net.graph->outputs()) {
    out.emplace_back(size_t(net.graph->shape(t).numel()));
    exe->read(t, out.back().data());
  }
  return out;
}

// The reference's name of residual i of controlnet_residuals.
inline std::string controlnet_residual_name(size_t i, size_t count) {
  return i + 1 == count ? "controlnet_check/mid" : "controlnet_check/down_" + std::to_string(i);
}

}  // namespace websd::test
