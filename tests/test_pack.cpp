// Web packs: conversion keeps every weight (f16/f32 exactly), the engine opens packs like folders, q8 packs stay
// close to f16 (errors printed), and damaged packs are detected with the file named.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <unistd.h>

#include "backends/cpu/cpu_backend.h"
#include "core/error.h"
#include "fixtures.h"
#include "io/model_source.h"
#include "io/pack_writer.h"
#include "io/safetensors.h"
#include "models/clip_text_encoder.h"
#include "models/unet.h"
#include "models/vae.h"
#include "websd/websd.h"

namespace websd {
namespace {
namespace fs = std::filesystem;

// Packs made by this process, in a folder of its own: ctest runs each test as a process, two at a time, and packs
// left by an older build must never be taken for this one's.
const fs::path& scratch() {
  static const fs::path dir = [] {
    fs::path d = fs::temp_directory_path() / ("websd_pack_test_" + std::to_string(::getpid()));
    fs::remove_all(d);
    fs::create_directories(d);
    std::atexit([] { fs::remove_all(scratch()); });
    return d;
  }();
  return dir;
}

std::string pack_dir(const std::string& model, PackDType t) {
  const std::string dir = (scratch() / (model + "_" + pack_dtype_name(t))).string();
  if (!fs::exists(dir + "/manifest.json")) {
    auto src = open_model_source(test::fixture(model + "/model"));
    write_pack(*src, dir, t);
  }
  return dir;
}

TEST(Pack, F16PackHoldsExactlyTheFolderWeights) {
  for (const char* model : {"tiny-sd1", "tiny-sd2"}) {
    auto folder = open_model_source(test::fixture(std::string(model) + "/model"));
    auto pack = open_model_source(pack_dir(model, PackDType::kF16));
    EXPECT_EQ(pack->pipeline_class(), "StableDiffusionPipeline");
    for (const char* c : {"text_encoder", "unet", "vae"}) {
      auto a = folder->weights(c);
      auto b = pack->weights(c);
      int compared = 0;
      for (const TensorInfo& t : a->list()) {
        if (t.dtype != DType::kF16) continue;
        WeightData wa = a->get(t.name, t.shape), wb = b->get(t.name, t.shape);
        ASSERT_EQ(wb.dtype, DType::kF16) << t.name;
        ASSERT_EQ(std::memcmp(wa.data, wb.data, size_t(t.shape.numel()) * 2), 0) << c << " " << t.name;
        ++compared;
      }
      EXPECT_GT(compared, 10) << c;
      EXPECT_EQ(folder->config(c).json(), pack->config(c).json());
    }
    EXPECT_EQ(folder->config("scheduler").json(), pack->config("scheduler").json());
    verify_pack(pack->path());
  }
}

// The image of a full txt2img run (tiny-sd1 reference settings, pndm) from a model path.
std::vector<uint8_t> generate(const std::string& path, const std::string& scheduler = "pndm") {
  websd_model* model = nullptr;
  EXPECT_EQ(websd_model_open(path.c_str(), nullptr, &model), WEBSD_OK) << websd_last_error();
  if (!model) return {};
  websd_txt2img_params p = websd_txt2img_params_default();
  p.prompt = "a photo of an astronaut riding a horse on mars";
  p.negative_prompt = "blurry, low quality";
  p.width = p.height = 64;
  p.steps = 5;
  p.seed = 1234;
  p.scheduler = scheduler.c_str();
  websd_image img{};
  EXPECT_EQ(websd_txt2img(model, &p, &img, 1), WEBSD_OK) << websd_last_error();
  std::vector<uint8_t> out(img.data, img.data + img.width * img.height * 3);
  websd_image_free(&img);
  websd_model_free(model);
  return out;
}

int max_diff(const std::vector<uint8_t>& a, const uint8_t* b) {
  int m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(int(a[i]) - int(b[i])));
  return m;
}

TEST(Pack, PacksGenerateTheDiffusersImage) {
  auto ref = SafetensorsFile::open(test::fixture("tiny-sd1/reference.safetensors"));
  const uint8_t* want = static_cast<const uint8_t*>(ref.get("pndm/image_u8").data);
  for (PackDType t : {PackDType::kF16, PackDType::kF32}) {
    auto img = generate(pack_dir("tiny-sd1", t));
    ASSERT_EQ(img.size(), 64u * 64u * 3u);
    const int d = max_diff(img, want);
    std::printf("  tiny-sd1 %s pack, pndm image: max diff %d levels\n", pack_dtype_name(t), d);
    EXPECT_LE(d, 2);
  }
}

// q8 against the fixtures: networks and final images, with the size saving. The bounds are what was measured
// with margin; the numbers are printed for the record.
TEST(Pack, Q8StaysCloseToF16) {
  for (const char* model : {"tiny-sd1", "tiny-sd2"}) {
    const std::string f16 = pack_dir(model, PackDType::kF16), q8 = pack_dir(model, PackDType::kQ8);
    uint64_t f16_bytes = 0, q8_bytes = 0;
    for (const auto& e : fs::directory_iterator(f16)) f16_bytes += e.path().extension() == ".safetensors" ? fs::file_size(e) : 0;
    for (const auto& e : fs::directory_iterator(q8)) q8_bytes += e.path().extension() == ".safetensors" ? fs::file_size(e) : 0;
    std::printf("  %s: f16 pack %.2f MiB, q8 pack %.2f MiB (%.0f%% of f16)\n", model, f16_bytes / 1048576.0,
                q8_bytes / 1048576.0, 100.0 * double(q8_bytes) / double(f16_bytes));
    EXPECT_LT(q8_bytes * 10, f16_bytes * 8);  // tiny models: the f16 token embedding is most of the text encoder

    auto src = open_model_source(q8);
    auto ref = SafetensorsFile::open(test::fixture(std::string(model) + "/reference.safetensors"));
    auto backend = make_cpu_backend();
    {
      auto w = src->weights("unet");
      const UNetConfig cfg = UNetConfig::from(src->config("unet"));
      auto net = build_unet(cfg, *w, 2, 8, 8);
      auto exe = backend->compile(net.graph);
      std::vector<float> tp(size_t(2 * cfg.block_out_channels[0]));
      for (int b = 0; b < 2; ++b) unet_time_features(cfg, 981.0f, tp.data() + b * cfg.block_out_channels[0]);
      exe->set_input(net.sample, ref.get("unet_in").to_f32().data());
      exe->set_input(net.time_proj, tp.data());
      exe->set_input(net.context, ref.get("unet_ctx").to_f32().data());
      exe->run();
      std::vector<float> out(size_t(net.graph->shape(net.out).numel()));
      exe->read(net.out, out.data());
      const float err = test::max_abs_diff(out, ref.get("unet_out").to_f32());
      std::printf("  %s q8 UNet (t=981): max abs error %.3g vs diffusers\n", model, err);
      EXPECT_LT(err, 0.05f);
    }
    {
      auto w = src->weights("vae");
      const VaeConfig cfg = VaeConfig::from(src->config("vae"));
      auto net = build_vae_decoder(cfg, *w, 1, 8, 8);
      auto exe = backend->compile(net.graph);
      std::vector<float> z = ref.get("vae_in").to_f32();
      for (auto& v : z) v /= cfg.scaling_factor;
      exe->set_input(net.latents, z.data());
      exe->run();
      std::vector<float> out(size_t(net.graph->shape(net.image).numel()));
      exe->read(net.image, out.data());
      const float err = test::max_abs_diff(out, ref.get("vae_out").to_f32());
      std::printf("  %s q8 VAE decode: max abs error %.3g vs diffusers\n", model, err);
      EXPECT_LT(err, 0.08f);
    }
  }
  auto ref = SafetensorsFile::open(test::fixture("tiny-sd1/reference.safetensors"));
  for (const char* s : {"pndm", "euler_a", "dpmpp_2m"}) {
    const int d = max_diff(generate(pack_dir("tiny-sd1", PackDType::kQ8), s),
                           static_cast<const uint8_t*>(ref.get(std::string(s) + "/image_u8").data));
    std::printf("  tiny-sd1 q8 pack, %s image: max diff %d levels vs diffusers\n", s, d);
    EXPECT_LE(d, 12);  // measured 4-6 levels
  }
}

template <typename F>
void expect_error(F f, ErrorCode code, const std::string& needle) {
  try {
    f();
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(Pack, DamageIsDetectedAndNamed) {
  const std::string good = pack_dir("tiny-sd1", PackDType::kF16);
  const std::string dir = (scratch() / "damaged").string();
  fs::remove_all(dir);
  fs::copy(good, dir, fs::copy_options::recursive);
  const std::string shard = dir + "/shard-00000.safetensors";
  {  // one flipped byte in the data: only the sha256 sees it
    std::fstream f(shard, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-100, std::ios::end);
    char c;
    f.read(&c, 1);
    f.seekp(-100, std::ios::end);
    c = char(c ^ 0x55);
    f.write(&c, 1);
  }
  expect_error([&] { verify_pack(dir); }, ErrorCode::kCorruptFile, "shard-00000.safetensors");
  fs::resize_file(shard, fs::file_size(shard) - 10);
  expect_error([&] { open_model_source(dir); }, ErrorCode::kCorruptFile, "shard-00000.safetensors");
  fs::remove(shard);
  expect_error([&] { open_model_source(dir); }, ErrorCode::kNotFound, "shard-00000.safetensors");
  {
    Config m = Config::load(dir + "/manifest.json");
    nlohmann::json j = m.json();
    j["version"] = 99;
    std::ofstream(dir + "/manifest.json") << j.dump();
  }
  expect_error([&] { open_model_source(dir); }, ErrorCode::kUnsupported, "version 99");
  fs::remove_all(dir);
}

// A crafted manifest is refused with a message, never read out of bounds: table fields that overflow, shapes that
// are negative or absurd, shard names that leave the pack folder.
TEST(Pack, HostileManifestsAreRefused) {
  const std::string good = pack_dir("tiny-sd1", PackDType::kF16);
  const std::string dir = (scratch() / "hostile").string();
  const nlohmann::json manifest = Config::load(good + "/manifest.json").json();
  const std::string first = manifest["components"]["unet"]["tensors"].begin().key();
  struct Case {
    const char* what;
    std::function<void(nlohmann::json&)> damage;
    const char* message;
  };
  const std::vector<Case> cases = {
      {"offset near 2^64", [&](auto& m) { m["components"]["unet"]["tensors"][first]["offset"] = uint64_t(-64); },
       "outside its shard"},
      {"negative offset", [&](auto& m) { m["components"]["unet"]["tensors"][first]["offset"] = -8; }, "\"offset\""},
      {"nbytes and shape disagree", [&](auto& m) { m["components"]["unet"]["tensors"][first]["nbytes"] = 2; },
       "bytes in the table"},
      {"negative dimension", [&](auto& m) { m["components"]["unet"]["tensors"][first]["shape"] = {-1, 4}; }, "shape"},
      {"overflowing shape",
       [&](auto& m) { m["components"]["unet"]["tensors"][first]["shape"] = {uint64_t(1) << 40, uint64_t(1) << 40}; },
       "implausibly large"},
      {"shape not a list", [&](auto& m) { m["components"]["unet"]["tensors"][first]["shape"] = "big"; }, "shape"},
      {"unknown dtype", [&](auto& m) { m["components"]["unet"]["tensors"][first]["dtype"] = 7; }, "unknown dtype"},
      {"shard outside the folder", [&](auto& m) { m["shards"][0]["file"] = "../../etc/passwd"; }, "plain \"file\""},
      // Found by scripts/fuzz.sh: a missing or mistyped field was read unchecked (undefined behaviour, or a JSON
      // library exception instead of a websd error).
      {"shard without its size", [&](auto& m) { m["shards"][0].erase("bytes"); }, "\"bytes\""},
      {"shard size as text", [&](auto& m) { m["shards"][0]["bytes"] = "many"; }, "\"bytes\""},
      {"tensor table not an object", [&](auto& m) { m["components"]["unet"]["tensors"] = {1, 2}; }, "\"tensors\""},
      {"component not an object", [&](auto& m) { m["components"]["unet"] = 3; }, "\"tensors\""},
      {"manifest not an object", [&](auto& m) { m = nlohmann::json::array({1}); }, "not a websd pack"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    fs::remove_all(dir);
    fs::copy(good, dir, fs::copy_options::recursive);
    nlohmann::json m = manifest;
    c.damage(m);
    std::ofstream(dir + "/manifest.json") << m.dump();
    expect_error([&] { open_model_source(dir)->weights("unet"); }, ErrorCode::kCorruptFile, c.message);
  }
  // A version of another type is another version.
  fs::remove_all(dir);
  fs::copy(good, dir, fs::copy_options::recursive);
  nlohmann::json m = manifest;
  m["version"] = "1";
  std::ofstream(dir + "/manifest.json") << m.dump();
  expect_error([&] { open_model_source(dir); }, ErrorCode::kUnsupported, "pack version \"1\"");
  fs::remove_all(dir);
}

}  // namespace
}  // namespace websd
