// Rung 3 of the correctness ladder: each network on the cpu backend (fast paths and the reference path) against
// what diffusers computed from the same fp16 weights in float32. Prints the max absolute error of every check.
#include <gtest/gtest.h>

#include <cstdio>

#include "backends/cpu/cpu_backend.h"
#include "fixtures.h"
#include "io/pipeline_folder.h"
#include "io/safetensors.h"
#include "models/clip_text_encoder.h"
#include "models/unet.h"
#include "models/vae.h"
#include "text/clip_tokenizer.h"

namespace websd {
namespace {

constexpr float kNetworkTolerance = 1e-4f;  // text encoder and UNet
constexpr float kVaeTolerance = 1e-3f;

struct Case {
  const char* model;
  bool reference;
};

std::string case_name(const testing::TestParamInfo<Case>& info) {
  std::string s = std::string(info.param.model) + (info.param.reference ? "_reference" : "_fast");
  for (char& c : s)
    if (c == '-') c = '_';
  return s;
}

class NetworkParity : public testing::TestWithParam<Case> {
 protected:
  void SetUp() override {
    folder_ = std::make_unique<PipelineFolder>(PipelineFolder::open(test::fixture(std::string(GetParam().model) + "/model")));
    ref_ = std::make_unique<SafetensorsFile>(
        SafetensorsFile::open(test::fixture(std::string(GetParam().model) + "/reference.safetensors")));
    backend_ = make_cpu_backend(CpuOptions{0, GetParam().reference});
  }

  std::vector<float> ref(const std::string& name) const { return ref_->get(name).to_f32(); }

  void expect_close(const std::vector<float>& got, const std::string& name, float tol, float scale = 1.0f) {
    std::vector<float> want = ref(name);
    for (auto& v : want) v *= scale;
    const float err = test::max_abs_diff(got, want);
    std::printf("  %-10s %-22s max abs error %.3g (tolerance %.0e)\n", GetParam().model, name.c_str(), err, tol);
    EXPECT_LE(err, tol) << name;
  }

  std::unique_ptr<PipelineFolder> folder_;
  std::unique_ptr<SafetensorsFile> ref_;
  std::unique_ptr<Backend> backend_;
};

TEST_P(NetworkParity, TextEncoder) {
  auto weights = folder_->weights("text_encoder");
  auto net = build_clip_text_encoder(ClipTextConfig::from(folder_->config("text_encoder")), *weights, 2);
  auto exe = backend_->compile(net.graph);
  std::vector<int32_t> ids;
  for (const char* key : {"prompt_ids", "negative_ids"}) {
    const TensorView& t = ref_->get(key);
    const int32_t* p = static_cast<const int32_t*>(t.data);
    ids.insert(ids.end(), p, p + t.shape.numel());
  }
  exe->set_input(net.ids, ids.data());
  exe->run();
  std::vector<float> out(size_t(net.graph->shape(net.last_hidden).numel()));
  exe->read(net.last_hidden, out.data());
  const size_t half = out.size() / 2;
  expect_close({out.begin(), out.begin() + long(half)}, "text_cond", kNetworkTolerance);
  expect_close({out.begin() + long(half), out.end()}, "text_uncond", kNetworkTolerance);
}

TEST_P(NetworkParity, UNet) {
  auto weights = folder_->weights("unet");
  const UNetConfig cfg = UNetConfig::from(folder_->config("unet"));
  const Shape in = ref_->get("unet_in").shape;
  auto net = build_unet(cfg, *weights, int(in[0]), int(in[2]), int(in[3]));
  auto exe = backend_->compile(net.graph);
  for (auto [t, in_key, out_key] : {std::tuple{981.0f, "unet_in", "unet_out"}, {17.0f, "unet_in_t17", "unet_out_t17"}}) {
    std::vector<float> tp(size_t(in[0]) * size_t(cfg.block_out_channels[0]));
    for (int64_t b = 0; b < in[0]; ++b) unet_time_features(cfg, t, tp.data() + b * cfg.block_out_channels[0]);
    exe->set_input(net.sample, ref(in_key).data());
    exe->set_input(net.time_proj, tp.data());
    exe->set_input(net.context, ref("unet_ctx").data());
    exe->run();
    std::vector<float> out(size_t(net.graph->shape(net.out).numel()));
    exe->read(net.out, out.data());
    expect_close(out, out_key, kNetworkTolerance);
  }
}

TEST_P(NetworkParity, VaeDecode) {
  auto weights = folder_->weights("vae");
  const VaeConfig cfg = VaeConfig::from(folder_->config("vae"));
  const Shape in = ref_->get("vae_in").shape;
  auto net = build_vae_decoder(cfg, *weights, int(in[0]), int(in[2]), int(in[3]));
  auto exe = backend_->compile(net.graph);
  std::vector<float> z = ref("vae_in");
  for (auto& v : z) v /= cfg.scaling_factor;
  exe->set_input(net.latents, z.data());
  exe->run();
  std::vector<float> out(size_t(net.graph->shape(net.image).numel()));
  exe->read(net.image, out.data());
  expect_close(out, "vae_out", kVaeTolerance);
}

TEST_P(NetworkParity, VaeEncode) {
  auto weights = folder_->weights("vae");
  const VaeConfig cfg = VaeConfig::from(folder_->config("vae"));
  const Shape in = ref_->get("vae_enc_in").shape;
  auto net = build_vae_encoder(cfg, *weights, int(in[0]), int(in[2]), int(in[3]));
  auto exe = backend_->compile(net.graph);
  exe->set_input(net.image, ref("vae_enc_in").data());
  exe->run();
  const Shape ms = net.graph->shape(net.moments);
  std::vector<float> moments(size_t(ms.numel()));
  exe->read(net.moments, moments.data());
  // The mean is the first half of the channels of each batch entry (batch 1 here).
  std::vector<float> mean(moments.begin(), moments.begin() + long(moments.size() / 2));
  expect_close(mean, "vae_enc_mean", kVaeTolerance);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, NetworkParity,
                         testing::Values(Case{"tiny-sd1", false}, Case{"tiny-sd2", false}, Case{"tiny-sd1", true},
                                         Case{"tiny-sd2", true}),
                         case_name);

}  // namespace
}  // namespace websd

namespace websd {
namespace {

// SDXL conditions on the penultimate hidden state of both CLIP encoders, concatenated ([1, 77, D1 + D2]).
TEST(TextEncoderPenultimate, MatchesSdxlPromptEmbeds) {
  auto folder = PipelineFolder::open(test::fixture("tiny-sdxl/model"));
  auto ref = SafetensorsFile::open(test::fixture("tiny-sdxl/reference.safetensors"));
  const std::vector<float> want = ref.get("prompt_embeds").to_f32();
  const int64_t total = ref.get("prompt_embeds").shape[2];
  const std::string prompt = "a cinematic photo of a red fox in the snow";  // reference.json runs.euler.args
  auto backend = make_cpu_backend();
  int64_t offset = 0;
  for (auto [enc, tok] : {std::pair{"text_encoder", "tokenizer"}, {"text_encoder_2", "tokenizer_2"}}) {
    auto weights = folder.weights(enc);
    auto cfg = ClipTextConfig::from(folder.config(enc));
    auto net = build_clip_text_encoder(cfg, *weights, 1);
    auto exe = backend->compile(net.graph);
    auto ids = ClipTokenizer::from_folder(folder.component_dir(tok)).encode_padded(prompt);
    exe->set_input(net.ids, ids.data());
    exe->run();
    std::vector<float> pen(size_t(net.graph->shape(net.penultimate).numel()));
    exe->read(net.penultimate, pen.data());
    const int64_t D = cfg.hidden_size;
    std::vector<float> slice;
    for (int64_t t = 0; t < 77; ++t)
      slice.insert(slice.end(), want.begin() + t * total + offset, want.begin() + t * total + offset + D);
    const float err = test::max_abs_diff(pen, slice);
    std::printf("  tiny-sdxl  %-14s penultimate max abs error %.3g\n", enc, err);
    EXPECT_LE(err, kNetworkTolerance);
    offset += D;
  }
}

}  // namespace
}  // namespace websd
