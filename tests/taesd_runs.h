// diffusers' AutoencoderTiny references (fixtures README, tiny-taesd), one table for the cpu tests (test_taesd.cpp)
// and the webgpu parity checks (web/model_parity.cpp): the decoder and the encoder on the fixture's tensors, and
// the tiny-sd1 run whose final image TAESD decodes.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "io/config.h"
#include "io/safetensors.h"
#include "models/taesd.h"
#include "pipeline/stable_diffusion.h"
#include "pipeline/vae_decode.h"

namespace websd::test {

inline std::string taesd_dir(const std::string& fixtures) { return fixtures + "/tiny-taesd/taesd"; }

// taesd.decode(latents).sample: [3, 64, 64] in [-1, 1].
inline std::vector<float> taesd_decoded(std::shared_ptr<Backend> backend, const std::string& fixtures) {
  const TaesdModel t = TaesdModel::open(taesd_dir(fixtures));
  const auto ref = SafetensorsFile::open(fixtures + "/tiny-taesd/reference.safetensors");
  const TensorView z = ref.get("latents");
  VaeDecoder decoder(std::move(backend), t.cfg, t.weights, int(z.shape[2]), int(z.shape[3]));
  return decoder.decode(z.to_f32());
}

// taesd.encode(enc_in).latents: [4, 8, 8]. EncoderTiny takes its [-1, 1] input to [0, 1] first.
inline std::vector<float> taesd_encoded(Backend& backend, const std::string& fixtures) {
  const TaesdModel t = TaesdModel::open(taesd_dir(fixtures));
  const auto ref = SafetensorsFile::open(fixtures + "/tiny-taesd/reference.safetensors");
  const TensorView x = ref.get("enc_in");
  const TaesdGraph net = build_taesd_encoder(t.cfg, *t.weights, int(x.shape[2]), int(x.shape[3]));
  std::vector<float> image = x.to_f32();
  for (float& v : image) v = (v + 1.0f) / 2.0f;
  auto exe = backend.compile(net.graph);
  exe->set_input(net.input, image.data());
  exe->run();
  std::vector<float> out(size_t(net.graph->shape(net.output).numel()));
  exe->read(net.output, out.data());
  return out;
}

// The run "pndm": tiny-sd1 with this TAESD as its VAE (the final image decoded by it).
inline GenerateParams taesd_run_params(const std::string& fixtures) {
  const nlohmann::json r = Config::load(fixtures + "/tiny-taesd/reference.json").json();
  GenerateParams p;
  p.prompt = r["prompt"];
  p.negative_prompt = r["negative_prompt"];
  p.seed = r["seed"];
  p.steps = r["steps"];
  p.guidance = r["guidance_scale"];
  p.width = r["width"];
  p.height = r["height"];
  p.scheduler = "pndm";
  p.vae_decoder = taesd_dir(fixtures);
  return p;
}

}  // namespace websd::test
