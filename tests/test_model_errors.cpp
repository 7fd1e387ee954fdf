// Bad models fail early with an error that names the file and the problem: unsupported configs, tensors of the
// wrong shape or dtype, missing tensors.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unistd.h>

#include "core/error.h"
#include "fixtures.h"
#include "io/pipeline_folder.h"
#include "models/clip_text_encoder.h"
#include "models/unet.h"
#include "models/vae.h"

namespace websd {
namespace {

std::string read_text(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// The fixture's config.json with one key replaced (value given as JSON).
Config edited_config(const std::string& component, const std::string& key, const std::string& value) {
  const std::string path = test::fixture("tiny-sd1/model/" + component + "/config.json");
  Config c = Config::load(path);
  nlohmann::json j = c.json();
  j[key] = nlohmann::json::parse(value);
  return Config(j, path);
}

// Runs f, which must throw Error(code) whose message contains every needle.
template <typename F>
void expect_error(F f, ErrorCode code, std::initializer_list<std::string> needles) {
  try {
    f();
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    for (const auto& n : needles) EXPECT_NE(std::string(e.what()).find(n), std::string::npos) << e.what();
    std::printf("  error as expected: %s\n", e.what());
  }
}

TEST(ModelErrors, UnsupportedUNetConfigsAreNamed) {
  expect_error([] { UNetConfig::from(edited_config("unet", "addition_embed_type", R"("image")")); },
               ErrorCode::kUnsupported, {"unet/config.json", "addition_embed_type", "image"});
  expect_error([] { UNetConfig::from(edited_config("unet", "down_block_types",
                                                   R"(["SimpleCrossAttnDownBlock2D","DownBlock2D","DownBlock2D"])")); },
               ErrorCode::kUnsupported, {"down_block_types", "SimpleCrossAttnDownBlock2D"});
  expect_error([] { UNetConfig::from(edited_config("unet", "resnet_time_scale_shift", R"("scale_shift")")); },
               ErrorCode::kUnsupported, {"resnet_time_scale_shift"});
  expect_error([] { UNetConfig::from(edited_config("unet", "block_out_channels", "[32, 64]")); },
               ErrorCode::kCorruptFile, {"block_out_channels"});
  expect_error([] { UNetConfig::from(edited_config("unet", "cross_attention_dim", R"("big")")); },
               ErrorCode::kCorruptFile, {"cross_attention_dim", "integer"});
}

TEST(ModelErrors, UnsupportedTextEncoderAndVaeConfigsAreNamed) {
  expect_error([] { ClipTextConfig::from(edited_config("text_encoder", "hidden_act", R"("relu")")); },
               ErrorCode::kUnsupported, {"text_encoder/config.json", "hidden_act", "relu"});
  expect_error([] { ClipTextConfig::from(edited_config("text_encoder", "architectures", R"(["T5EncoderModel"])")); },
               ErrorCode::kUnsupported, {"T5EncoderModel"});
  expect_error([] { VaeConfig::from(edited_config("vae", "up_block_types", R"(["AttnUpDecoderBlock2D"])")); },
               ErrorCode::kUnsupported, {"vae/config.json", "AttnUpDecoderBlock2D"});
}

// Found by the fuzz smoke: zero-sized heads, groups and layers divided by zero; an empty architectures list threw
// std::out_of_range instead of a websd error.
TEST(ModelErrors, ZeroSizesAreRefusedBeforeTheyDivide) {
  expect_error([] { ClipTextConfig::from(edited_config("text_encoder", "num_attention_heads", "0")); },
               ErrorCode::kCorruptFile, {"num_attention_heads", "at least 1"});
  expect_error([] { ClipTextConfig::from(edited_config("text_encoder", "hidden_size", "-4")); },
               ErrorCode::kCorruptFile, {"hidden_size"});
  expect_error([] { ClipTextConfig::from(edited_config("text_encoder", "architectures", "[]")); },
               ErrorCode::kCorruptFile, {"architectures"});
  expect_error([] { UNetConfig::from(edited_config("unet", "norm_num_groups", "0")); }, ErrorCode::kCorruptFile,
               {"norm_num_groups"});
  expect_error([] { UNetConfig::from(edited_config("unet", "attention_head_dim", "0")); }, ErrorCode::kCorruptFile,
               {"attention_head_dim"});
  expect_error([] { VaeConfig::from(edited_config("vae", "norm_num_groups", "0")); }, ErrorCode::kCorruptFile,
               {"norm_num_groups"});
}

TEST(ModelErrors, ConfigThatDoesNotMatchTheWeightsNamesFileAndTensor) {
  auto p = PipelineFolder::open(test::fixture("tiny-sd1/model"));
  auto w = p.weights("unet");
  UNetConfig cfg = UNetConfig::from(p.config("unet"));
  cfg.in_channels = 9;  // an inpainting config on a text-to-image checkpoint
  expect_error([&] { build_unet(cfg, *w, 1, 8, 8); }, ErrorCode::kShapeMismatch,
               {"diffusion_pytorch_model.safetensors", "conv_in.weight", "[32, 4, 3, 3]", "[32, 9, 3, 3]"});
  cfg = UNetConfig::from(p.config("unet"));
  cfg.layers_per_block = 3;
  expect_error([&] { build_unet(cfg, *w, 1, 8, 8); }, ErrorCode::kNotFound,
               {"diffusion_pytorch_model.safetensors", "down_blocks.0.resnets.2", "missing"});
}

TEST(ModelErrors, WeightsOfTheWrongDtypeAreRefused) {
  const std::string header = R"({"conv_in.weight":{"dtype":"I32","shape":[32,4,3,3],"data_offsets":[0,4608]}})";
  std::vector<uint8_t> bytes(8 + header.size() + 4608, 0);
  bytes[0] = uint8_t(header.size());
  bytes[1] = uint8_t(header.size() >> 8);
  std::memcpy(bytes.data() + 8, header.data(), header.size());
  std::vector<SafetensorsFile> files;
  files.push_back(SafetensorsFile::parse(MappedFile::from_bytes(bytes, "int-weights.safetensors")));
  SafetensorsWeights w(std::move(files));
  expect_error([&] { w.get("conv_in.weight", Shape{32, 4, 3, 3}); }, ErrorCode::kShapeMismatch,
               {"int-weights.safetensors", "conv_in.weight", "I32"});
}

// A folder with both weight variants of a component is read as the page's loader reads it: the fp16 file. The
// full-precision file here is no safetensors at all, so reading it would fail.
TEST(ModelErrors, AFolderWithBothVariantsIsReadFromItsFp16File) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("websd-variants-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::copy(test::fixture("tiny-sd1/model"), dir, fs::copy_options::recursive);
  fs::rename(dir / "unet/diffusion_pytorch_model.safetensors", dir / "unet/diffusion_pytorch_model.fp16.safetensors");
  std::ofstream(dir / "unet/diffusion_pytorch_model.safetensors") << "not the weights";
  auto p = PipelineFolder::open(dir.string());
  auto w = p.weights("unet");
  EXPECT_NE(w->where().find("diffusion_pytorch_model.fp16.safetensors"), std::string::npos) << w->where();
  build_unet(UNetConfig::from(p.config("unet")), *w, 1, 8, 8);  // every tensor found in it
  fs::remove_all(dir);
}

TEST(ModelErrors, PythonInfinityInConfigsIsRead) {
  Config c = Config::parse(R"({"lambda_min_clipped": -Infinity, "name": "NaN inside a string"})", "x.json");
  EXPECT_EQ(c.get_number("lambda_min_clipped", 0), -std::numeric_limits<double>::infinity());
  EXPECT_EQ(c.get_string("name", ""), "NaN inside a string");
  expect_error([] { Config::parse("{\"a\": }", "broken.json"); }, ErrorCode::kCorruptFile, {"broken.json", "JSON"});
}

}  // namespace
}  // namespace websd
