// LoRA (adapters/lora.h) against diffusers' load_lora_weights + fuse_lora on tiny-sd1 (fixtures README,
// tiny-sd1-creative): the text encoder's and the UNet's outputs with each LoRA merged (1e-4), whole runs
// (within 2 levels), the prompt's <lora:…> tags, and files that are not LoRAs of this model.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "adapters/lora.h"
#include "backends/cpu/cpu_backend.h"
#include "core/error.h"
#include "fixtures.h"
#include "image_parity.h"
#include "io/config.h"
#include "io/safetensors.h"
#include "io/safetensors_writer.h"
#include "lora_runs.h"
#include "pipeline/stable_diffusion.h"

namespace websd {
namespace {

constexpr float kNetworkTolerance = 1e-4f;

std::string creative(const std::string& rel) { return test::fixture("tiny-sd1-creative/" + rel); }

// Merged and applied at run time alike.
TEST(Lora, NetworksMatchDiffusersFusedLora) {
  const SafetensorsFile ref = SafetensorsFile::open(creative("reference.safetensors"));
  auto backend = make_cpu_backend();
  for (LoraMode mode : {LoraMode::kMerged, LoraMode::kRunTime})
  for (const test::LoraRun& r : test::kLoraRuns) {
    SCOPED_TRACE(std::string(r.run) + " " + lora_mode_name(mode));
    const test::LoraNetworkOutputs got = test::lora_network_outputs(*backend, test::fixtures_dir(), r, mode);
    const TensorView& ids = ref.get("lora_ids");
    EXPECT_EQ(got.ids, std::vector<int32_t>(static_cast<const int32_t*>(ids.data),
                                            static_cast<const int32_t*>(ids.data) + ids.shape.numel()));
    const float text_err = test::max_abs_diff(got.text_ctx, ref.get(std::string(r.run) + "/text_ctx").to_f32());
    const float unet_err = test::max_abs_diff(got.unet_out, ref.get(std::string(r.run) + "/unet_out").to_f32());
    std::printf("  %-20s %-8s text_ctx max abs error %.3g, unet_out %.3g (tolerance %.0e)\n", r.run,
                lora_mode_name(mode), text_err, unet_err, kNetworkTolerance);
    EXPECT_LE(text_err, kNetworkTolerance);
    EXPECT_LE(unet_err, kNetworkTolerance);
  }
}

void expect_image(const RgbImage& img, const TensorView& want, const std::string& what) {
  test::expect_image_matches(img.pixels.data(), img.pixels.size(), static_cast<const uint8_t*>(want.data),
                             size_t(want.shape.numel()), what);
}

// Whole runs, one model: LoRAs switched between calls, and back to none (the plain model's image again).
TEST(Lora, RunsMatchDiffusersAndSwitch) {
  const nlohmann::json info = Config::load(creative("reference.json")).json();
  const SafetensorsFile ref = SafetensorsFile::open(creative("reference.safetensors"));
  auto sd = StableDiffusion::open(test::fixture("tiny-sd1/model"), make_cpu_backend());
  GenerateParams plain = test::lora_run_params(info["runs"]["lora_kohya_s10"], test::kLoraRuns[2], creative(""));
  plain.loras.clear();
  const std::vector<uint8_t> before = sd->generate(plain).at(0).pixels;
  for (const test::LoraRun& r : test::kLoraRuns) {
    const GenerateParams p = test::lora_run_params(info["runs"][r.run], r, creative(""));
    const RgbImage img = sd->generate(p).at(0);
    expect_image(img, ref.get(std::string(r.run) + "/image_u8"), r.run);
  }
  EXPECT_EQ(sd->generate(plain).at(0).pixels, before) << "no LoRA after LoRAs: the model's own weights";
  // Applied at run time: the same images, and the mode is part of the set (switching modes rebuilds it).
  for (const test::LoraRun& r : {test::kLoraRuns[0], test::kLoraRuns[1]}) {
    GenerateParams p = test::lora_run_params(info["runs"][r.run], r, creative(""));
    p.lora_mode = LoraMode::kRunTime;
    expect_image(sd->generate(p).at(0), ref.get(std::string(r.run) + "/image_u8"), std::string(r.run) + " runtime");
  }
  EXPECT_EQ(sd->generate(plain).at(0).pixels, before);
  EXPECT_EQ(parse_lora_mode("runtime"), LoraMode::kRunTime);
  EXPECT_THROW(parse_lora_mode("fused"), Error);
}

// <lora:NAME:SCALE> in the prompt is the same as asking for the file, and is not part of the text encoded.
TEST(Lora, PromptTagsNameFilesInTheLoraFolder) {
  const nlohmann::json info = Config::load(creative("reference.json")).json();
  const SafetensorsFile ref = SafetensorsFile::open(creative("reference.safetensors"));
  auto sd = StableDiffusion::open(test::fixture("tiny-sd1/model"), make_cpu_backend());
  GenerateParams p = test::lora_run_params(info["runs"]["lora_kohya_s08"], test::kLoraRuns[0], creative(""));
  p.loras.clear();
  p.prompt = "<lora:lora_kohya:0.8>" + p.prompt;
  p.lora_dir = creative("");
  const RgbImage img = sd->generate(p).at(0);
  expect_image(img, ref.get("lora_kohya_s08/image_u8"), "lora_kohya_s08 from a tag");

  p.prompt = "a <lora:missing:1> cat";
  try {
    sd->generate(p);
    ADD_FAILURE() << "an unknown LoRA name ran";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kNotFound);
    EXPECT_NE(std::string(e.what()).find("missing.safetensors"), std::string::npos) << e.what();
  }
}

TEST(Lora, TagSyntax) {
  std::string prompt = "a <lora:one> b <lora:two:0.5>c<lora:three:0.25:0.75> <lora:four:te=0.1:unet=0.9> <lora:x";
  const auto tags = take_lora_tags(prompt);
  EXPECT_EQ(prompt, "a  b c  <lora:x");
  ASSERT_EQ(tags.size(), 4u);
  EXPECT_EQ(tags[0].path, "one");
  EXPECT_EQ(tags[0].text_scale, 1.0f);
  EXPECT_EQ(tags[1].unet_scale, 0.5f);
  EXPECT_EQ(tags[1].text_scale, 0.5f);
  EXPECT_EQ(tags[2].text_scale, 0.25f);
  EXPECT_EQ(tags[2].unet_scale, 0.75f);
  EXPECT_EQ(tags[3].text_scale, 0.1f);
  EXPECT_EQ(tags[3].unet_scale, 0.9f);
  for (const char* bad : {"<lora::1>", "<lora:a:x>"}) {
    std::string s = bad;
    EXPECT_THROW(take_lora_tags(s), Error) << bad;
  }
  EXPECT_THROW(find_lora("/tmp", "../etc/passwd"), Error);
}

void write_lora(const std::string& path, const std::map<std::string, std::pair<Shape, std::vector<float>>>& tensors) {
  std::vector<TensorToWrite> out;
  for (const auto& [name, t] : tensors) out.push_back({name, DType::kF32, t.first, t.second.data()});
  write_safetensors(path, out);
}

// A LoRA for another model, LyCORIS files and broken files: each a clear error naming the file and what is wrong.
TEST(Lora, FilesThatDoNotFitAreRefused) {
  const std::string dir = testing::TempDir() + "/websd_lora_" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  auto sd = StableDiffusion::open(test::fixture("tiny-sd1/model"), make_cpu_backend());
  GenerateParams p;
  p.prompt = "x";
  p.steps = 1;
  p.width = p.height = 64;
  const auto expect_error = [&](const std::string& file, ErrorCode code, const std::string& says) {
    p.loras = {{file}};
    try {
      sd->generate(p);
      ADD_FAILURE() << file << " was accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), code) << e.what();
      EXPECT_NE(std::string(e.what()).find(says), std::string::npos) << e.what();
    }
  };
  const std::vector<float> z(64 * 64, 0.01f);
  write_lora(dir + "/other.safetensors", {{"lora_te2_encoder_layers_0_self_attn_q_proj.lora_down.weight", {Shape{4, 32}, z}},
                                          {"lora_te2_encoder_layers_0_self_attn_q_proj.lora_up.weight", {Shape{32, 4}, z}}});
  expect_error(dir + "/other.safetensors", ErrorCode::kInvalidArgument, "match no layer");
  write_lora(dir + "/wide.safetensors",
             {{"lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight", {Shape{4, 64}, z}},
              {"lora_unet_down_blocks_0_attentions_0_proj_in.lora_up.weight", {Shape{32, 4}, z}}});
  expect_error(dir + "/wide.safetensors", ErrorCode::kInvalidArgument, "another model architecture");
  write_lora(dir + "/loha.safetensors", {{"lora_unet_x.hada_w1_a", {Shape{4, 4}, z}}});
  expect_error(dir + "/loha.safetensors", ErrorCode::kUnsupported, "LyCORIS");
  write_lora(dir + "/half.safetensors", {{"lora_unet_x.lora_down.weight", {Shape{4, 4}, z}}});
  expect_error(dir + "/half.safetensors", ErrorCode::kCorruptFile, "only its down");
  write_lora(dir + "/model.safetensors", {{"conv_in.weight", {Shape{4, 4}, z}}});
  expect_error(dir + "/model.safetensors", ErrorCode::kUnsupported, "not LoRA layers");
  std::ofstream(dir + "/cut.safetensors") << "\x10\x00\x00";
  expect_error(dir + "/cut.safetensors", ErrorCode::kCorruptFile, "cut.safetensors");
  expect_error(dir + "/style.pt", ErrorCode::kUnsupported, "pickled");
  // The model still works, with its own weights.
  p.loras.clear();
  EXPECT_NO_THROW(sd->generate(p));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace websd
