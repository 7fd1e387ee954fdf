// ControlNet (models/controlnet.h) against diffusers' StableDiffusionControlNetPipeline on tiny-sd1 (fixtures README,
// tiny-sd1-creative/controlnet): the residuals alone (1e-4), whole runs (within 2 levels), several ControlNets and
// their step ranges, the single-file naming, the preprocessors (Canny by hand on synthetic pictures), and
// ControlNets or images that do not fit.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>

#include "backends/cpu/cpu_backend.h"
#include "controlnet_runs.h"
#include "core/error.h"
#include "fixtures.h"
#include "image_parity.h"
#include "io/config.h"
#include "io/controlnet_source.h"
#include "io/safetensors.h"
#include "io/safetensors_writer.h"
#include "io/weight_source.h"
#include "pipeline/control_image.h"
#include "pipeline/stable_diffusion.h"
#include "websd/websd.h"

namespace websd {
namespace {

constexpr float kResidualTolerance = 1e-4f;

std::string creative(const std::string& rel) { return test::fixture("tiny-sd1-creative/" + rel); }

std::string temp_dir(const std::string& name) {
  const std::string dir = testing::TempDir() + "/websd_controlnet_" + name + "_" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  return dir;
}

void expect_image(const RgbImage& img, const TensorView& want, const std::string& what) {
  test::expect_image_matches(img.pixels.data(), img.pixels.size(), static_cast<const uint8_t*>(want.data),
                             size_t(want.shape.numel()), what);
}

TEST(ControlNet, ResidualsMatchDiffusers) {
  const SafetensorsFile ref = SafetensorsFile::open(creative("reference.safetensors"));
  auto backend = make_cpu_backend();
  const auto got = test::controlnet_residuals(*backend, test::fixtures_dir());
  ASSERT_EQ(got.size(), 10u);  // 9 skip connections and the mid block
  for (size_t i = 0; i < got.size(); ++i) {
    const std::string name = test::controlnet_residual_name(i, got.size());
    const float err = test::max_abs_diff(got[i], ref.get(name).to_f32());
    std::printf("  %-24s max abs error %.3g (tolerance %.0e)\n", name.c_str(), err, kResidualTolerance);
    EXPECT_LE(err, kResidualTolerance) << name;
  }
}

TEST(ControlNet, RunsMatchDiffusers) {
  const nlohmann::json info = Config::load(creative("reference.json")).json();
  const SafetensorsFile ref = SafetensorsFile::open(creative("reference.safetensors"));
  auto sd = StableDiffusion::open(test::fixture("tiny-sd1/model"), make_cpu_backend());
  for (const test::ControlRun& r : test::kControlRuns) {
    const GenerateParams p = test::control_run_params(info["runs"][r.run], r, creative(""), ref);
    expect_image(sd->generate(p).at(0), ref.get(std::string(r.run) + "/image_u8"), r.run);
  }
}

// Two ControlNets' residuals are summed: the same one twice at half the scale is the run at full scale. Scale 0,
// or a range no step falls in, is the plain model's image; so is a call without ControlNets after one with.
TEST(ControlNet, SeveralAndStepRanges) {
  const nlohmann::json info = Config::load(creative("reference.json")).json();
  const SafetensorsFile ref = SafetensorsFile::open(creative("reference.safetensors"));
  auto sd = StableDiffusion::open(test::fixture("tiny-sd1/model"), make_cpu_backend());
  const test::ControlRun& full = test::kControlRuns[0];
  GenerateParams p = test::control_run_params(info["runs"][full.run], full, creative(""), ref);
  GenerateParams twice = p;
  twice.controls = {p.controls[0], p.controls[0]};
  twice.controls[0].scale = twice.controls[1].scale = 0.5f;
  expect_image(sd->generate(twice).at(0), ref.get(std::string(full.run) + "/image_u8"), "two ControlNets at 0.5");

  GenerateParams plain = p;
  plain.controls.clear();
  const RgbImage without = sd->generate(plain).at(0);
  GenerateParams zero = p;
  zero.controls[0].scale = 0.0f;
  EXPECT_EQ(sd->generate(zero).at(0).pixels, without.pixels) << "scale 0";
  GenerateParams late = p;
  late.controls[0].start = 0.99;  // pndm's 7 iterations: i / 7 >= 0.99 for none
  EXPECT_EQ(sd->generate(late).at(0).pixels, without.pixels) << "a range no step falls in";
  GenerateParams half = p;
  half.controls[0].end = 0.5;  // the first 3 of 7 iterations: neither the plain image nor the full run's
  const RgbImage partly = sd->generate(half).at(0);
  EXPECT_NE(partly.pixels, without.pixels);
  EXPECT_NE(partly.pixels, sd->generate(p).at(0).pixels);
  EXPECT_EQ(sd->generate(plain).at(0).pixels, without.pixels) << "after runs with ControlNets";
}

// diffusers' names -> the original ones (lllyasviel's ControlNet files) for the fixture's layout: 3 blocks of 2
// layers. Written out by hand, independently of io/ldm_names.cpp.
std::string original_name(const std::string& n) {
  static const std::vector<std::pair<std::regex, std::string>> rules = [] {
    std::vector<std::pair<std::regex, std::string>> r;
    const auto add = [&](const std::string& from, const std::string& to) { r.emplace_back(std::regex(from), to); };
    add(R"(^conv_in\.(.*))", "input_blocks.0.0.$1");
    add(R"(^time_embedding\.linear_1\.(.*))", "time_embed.0.$1");
    add(R"(^time_embedding\.linear_2\.(.*))", "time_embed.2.$1");
    add(R"(^controlnet_cond_embedding\.conv_in\.(.*))", "input_hint_block.0.$1");
    add(R"(^controlnet_cond_embedding\.conv_out\.(.*))", "input_hint_block.14.$1");
    add(R"(^controlnet_down_blocks\.(\d+)\.(.*))", "zero_convs.$1.0.$2");
    add(R"(^controlnet_mid_block\.(.*))", "middle_block_out.0.$1");
    add(R"(^mid_block\.attentions\.0\.(.*))", "middle_block.1.$1");
    return r;
  }();
  for (const auto& [re, to] : rules)
    if (std::regex_match(n, re)) return std::regex_replace(n, re, to);
  std::smatch m;
  if (std::regex_match(n, m, std::regex(R"(^controlnet_cond_embedding\.blocks\.(\d+)\.(.*))")))
    return "input_hint_block." + std::to_string(2 * std::stoi(m[1]) + 2) + "." + m[2].str();
  static const std::map<std::string, std::string> resnet{{"norm1", "in_layers.0"},   {"conv1", "in_layers.2"},
                                                         {"time_emb_proj", "emb_layers.1"},
                                                         {"norm2", "out_layers.0"},  {"conv2", "out_layers.3"},
                                                         {"conv_shortcut", "skip_connection"}};
  if (std::regex_match(n, m, std::regex(R"(^mid_block\.resnets\.(\d)\.(\w+)\.(.*))")))
    return "middle_block." + std::to_string(m[1] == "0" ? 0 : 2) + "." + resnet.at(m[2]) + "." + m[3].str();
  if (std::regex_match(n, m, std::regex(R"(^down_blocks\.(\d)\.resnets\.(\d)\.(\w+)\.(.*))")))
    return "input_blocks." + std::to_string(1 + 3 * std::stoi(m[1]) + std::stoi(m[2])) + ".0." + resnet.at(m[3]) +
           "." + m[4].str();
  if (std::regex_match(n, m, std::regex(R"(^down_blocks\.(\d)\.attentions\.(\d)\.(.*))")))
    return "input_blocks." + std::to_string(1 + 3 * std::stoi(m[1]) + std::stoi(m[2])) + ".1." + m[3].str();
  if (std::regex_match(n, m, std::regex(R"(^down_blocks\.(\d)\.downsamplers\.0\.conv\.(.*))")))
    return "input_blocks." + std::to_string(3 + 3 * std::stoi(m[1])) + ".0.op." + m[2].str();
  ADD_FAILURE() << "no original name for " << n;
  return n;
}

// The fixture's ControlNet as one file in the original naming (heads guessed from the tensors, then taken from the
// base model), and in diffusers' naming with and without its config beside it: the residuals of the folder.
TEST(ControlNet, SingleFilesInBothNamings) {
  const std::string dir = temp_dir("single");
  const SafetensorsFile src = SafetensorsFile::open(creative("controlnet/diffusion_pytorch_model.safetensors"));
  std::vector<TensorToWrite> original, diffusers;
  std::vector<std::string> names;
  for (const auto& [name, t] : src.tensors()) names.push_back("control_model." + original_name(name));
  size_t i = 0;
  for (const auto& [name, t] : src.tensors()) {
    original.push_back({names[i++], t.dtype, t.shape, t.data});
    diffusers.push_back({name, t.dtype, t.shape, t.data});
  }
  write_safetensors(dir + "/control_tiny.safetensors", original);
  write_safetensors(dir + "/control_tiny_diffusers.safetensors", diffusers);

  const auto model = open_model_source(test::fixture("tiny-sd1/model"));
  const UNetConfig base = UNetConfig::from(model->config("unet"));
  const ControlNetModel folder = ControlNetModel::open(creative("controlnet"));
  for (const std::string file : {"control_tiny.safetensors", "control_tiny_diffusers.safetensors"}) {
    SCOPED_TRACE(file);
    ASSERT_TRUE(is_controlnet(dir + "/" + file));
    ControlNetModel cn = ControlNetModel::open(dir + "/" + file);
    EXPECT_TRUE(cn.guessed_heads);
    cn.fit_to(base, 8);
    EXPECT_EQ(cn.cfg.unet.heads, folder.cfg.unet.heads);
    EXPECT_EQ(cn.cfg.unet.block_out_channels, folder.cfg.unet.block_out_channels);
    EXPECT_EQ(cn.cfg.conditioning_embedding_out_channels, folder.cfg.conditioning_embedding_out_channels);
    EXPECT_EQ(cn.cfg.unet.transformer_layers, folder.cfg.unet.transformer_layers);
    EXPECT_EQ(cn.cfg.unet.use_linear_projection, folder.cfg.unet.use_linear_projection);
    EXPECT_EQ(cn.cfg.unet.cross_attention_dim, folder.cfg.unet.cross_attention_dim);
    for (const TensorInfo& t : folder.weights->list()) {
      const WeightData a = resident(folder.weights->get(t.name, t.shape)), b = resident(cn.weights->get(t.name, t.shape));
      EXPECT_EQ(std::memcmp(a.data, b.data, size_t(t.shape.numel()) * dtype_size(t.dtype)), 0) << t.name;
    }
  }
  // The whole pipeline reads the original file the same as the folder.
  const nlohmann::json info = Config::load(creative("reference.json")).json();
  const SafetensorsFile ref = SafetensorsFile::open(creative("reference.safetensors"));
  auto sd = StableDiffusion::open(test::fixture("tiny-sd1/model"), make_cpu_backend());
  GenerateParams p = test::control_run_params(info["runs"]["controlnet_pndm"], test::kControlRuns[0], creative(""), ref);
  p.controls[0].path = dir + "/control_tiny.safetensors";
  expect_image(sd->generate(p).at(0), ref.get("controlnet_pndm/image_u8"), "controlnet_pndm, original naming");
}

// Each a clear error before any step runs, and the model still generates afterwards.
TEST(ControlNet, WhatDoesNotFitIsRefused) {
  const nlohmann::json info = Config::load(creative("reference.json")).json();
  const SafetensorsFile ref = SafetensorsFile::open(creative("reference.safetensors"));
  auto sd = StableDiffusion::open(test::fixture("tiny-sd1/model"), make_cpu_backend());
  const GenerateParams good =
      test::control_run_params(info["runs"]["controlnet_pndm"], test::kControlRuns[0], creative(""), ref);
  const auto refused = [&](GenerateParams p, const std::string& needle) {
    try {
      sd->generate(p);
      ADD_FAILURE() << "not refused: " << needle;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  GenerateParams p = good;
  p.controls[0].path = creative("missing-controlnet");
  refused(p, "no such ControlNet");
  p.controls[0].path = creative("lora_kohya.safetensors");
  refused(p, "no ControlNet in this file");
  p.controls[0].path = test::fixture("tiny-sd1/model");
  refused(p, "not a ControlNet");
  p = good;
  p.controls[0].image = {};
  refused(p, "needs its control image");
  p = good;
  p.controls[0].scale = -1;
  refused(p, "control scale");
  p = good;
  p.controls[0].start = 0.6;
  p.controls[0].end = 0.4;
  refused(p, "start < end");
  p = good;
  p.controls[0].options.canny_high = 1e9;
  refused(p, "Canny thresholds");

  // A ControlNet config of another family: its text features' width.
  const std::string dir = temp_dir("other");
  nlohmann::json cfg = Config::load(creative("controlnet/config.json")).json();
  cfg["cross_attention_dim"] = 64;
  std::ofstream(dir + "/config.json") << cfg.dump();
  std::filesystem::copy_file(creative("controlnet/diffusion_pytorch_model.safetensors"),
                             dir + "/diffusion_pytorch_model.safetensors",
                             std::filesystem::copy_options::overwrite_existing);
  p = good;
  p.controls[0].path = dir;
  refused(p, "64-wide text features");

  cfg = Config::load(creative("controlnet/config.json")).json();
  cfg["global_pool_conditions"] = true;
  std::ofstream(dir + "/config.json") << cfg.dump();
  EXPECT_THROW(ControlNetModel::open(dir), Error);

  expect_image(sd->generate(good).at(0), ref.get("controlnet_pndm/image_u8"), "controlnet_pndm after the errors");
}

// Against SDXL's UNet (the tiny SDXL fixture): the family is named.
TEST(ControlNet, OtherFamilyIsNamed) {
  const auto xl = open_model_source(test::fixture("tiny-sdxl/model"));
  const ControlNetModel cn = ControlNetModel::open(creative("controlnet"));
  try {
    check_controlnet_fits(cn.cfg, UNetConfig::from(xl->config("unet")), 8, "cn");
    ADD_FAILURE() << "an SD 1.x-style ControlNet fitted an SDXL UNet";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("SDXL"), std::string::npos) << e.what();
  }
}

// The C API: websd_controlnet in websd_txt2img draws the run's image; websd_control_map shows the map; bad
// entries are a status and a message.
TEST(ControlNet, CApi) {
  const SafetensorsFile ref = SafetensorsFile::open(creative("reference.safetensors"));
  const std::vector<float> v = ref.get("control_image").to_f32();
  std::vector<uint8_t> rgb(v.size());
  for (size_t i = 0; i < v.size(); ++i) rgb[i] = uint8_t(v[i] * 255.0f + 0.5f);
  websd_image control_image{64, 64, 3, rgb.data()};
  const std::string path = creative("controlnet");
  websd_controlnet c = websd_controlnet_default();
  EXPECT_EQ(c.scale, 1.0f);
  EXPECT_EQ(c.end, 1.0);
  c.path = path.c_str();
  c.image = &control_image;

  websd_model* model = nullptr;
  ASSERT_EQ(websd_model_open(test::fixture("tiny-sd1/model").c_str(), nullptr, &model), WEBSD_OK);
  websd_txt2img_params p = websd_txt2img_params_default();
  p.prompt = "a photo of an astronaut riding a horse on mars";
  p.negative_prompt = "blurry, low quality";
  p.steps = 6;
  p.seed = test::kControlSeed;
  p.scheduler = "pndm";
  p.scheduler_config = R"({"timestep_spacing": "leading"})";
  p.width = p.height = 64;
  p.controlnets = &c;
  p.controlnet_count = 1;
  websd_image img{};
  ASSERT_EQ(websd_txt2img(model, &p, &img, 1), WEBSD_OK) << websd_last_error();
  expect_image(RgbImage{img.width, img.height, std::vector<uint8_t>(img.data, img.data + 64 * 64 * 3)},
               ref.get("controlnet_pndm/image_u8"), "controlnet_pndm through the C API");
  websd_image_free(&img);

  c.preprocessor = "canny";
  websd_image map{};
  ASSERT_EQ(websd_control_map(&c, 32, 32, &map), WEBSD_OK) << websd_last_error();
  EXPECT_EQ(map.width, 32);
  EXPECT_EQ(map.channels, 3);
  for (int i = 0; i < 32 * 32 * 3; ++i) ASSERT_TRUE(map.data[i] == 0 || map.data[i] == 255);
  websd_image_free(&map);
  c.preprocessor = "depth";
  EXPECT_EQ(websd_control_map(&c, 32, 32, &map), WEBSD_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(websd_last_error()).find("\"none\" or \"canny\""), std::string::npos) << websd_last_error();
  c.preprocessor = nullptr;
  c.image = nullptr;
  EXPECT_EQ(websd_txt2img(model, &p, &img, 1), WEBSD_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(websd_last_error()).find("controlnets[0].image"), std::string::npos) << websd_last_error();
  p.controlnet_count = -1;
  EXPECT_EQ(websd_txt2img(model, &p, &img, 1), WEBSD_ERROR_INVALID_ARGUMENT);
  websd_model_free(model);
}

// SDXL's ControlNets take the same path (their encoder is SDXL's, with its text-time conditioning): one made for
// the tiny SDXL UNet, on synthesized weights, builds into one graph with it; at scale 0 the UNet's output is the
// UNet's alone, and at scale 1 it differs.
TEST(ControlNet, SdxlControlNetsShareThePath) {
  const auto xl = open_model_source(test::fixture("tiny-sdxl/model"));
  const UNetConfig u = UNetConfig::from(xl->config("unet"));
  const ControlNetConfig cn = ControlNetConfig::for_unet(u);
  check_controlnet_fits(cn, u, 8, "synthetic");
  RandomWeights control_weights(DType::kF32);
  const auto unet_weights = xl->weights("unet");
  auto backend = make_cpu_backend();
  const int lh = 8, lw = 8;
  const UNetGraph plain = build_unet(u, *unet_weights, 2, lh, lw);
  const UNetGraph both = build_controlled_unet(u, *unet_weights, {{&cn, &control_weights}}, 2, lh, lw);
  ASSERT_EQ(both.control_images.size(), 1u);
  ASSERT_GE(both.added_cond, 0);
  const auto fill = [](const Graph& g, TensorId id, float v) {
    std::vector<float> x(size_t(g.shape(id).numel()));
    for (size_t i = 0; i < x.size(); ++i) x[i] = v * float((i * 37) % 11) / 11.0f;
    return x;
  };
  const auto run = [&](const UNetGraph& net, float scale) {
    auto exe = backend->compile(net.graph);
    const Graph& g = *net.graph;
    for (TensorId id : {net.sample, net.time_proj, net.context, net.added_cond}) exe->set_input(id, fill(g, id, 0.5f).data());
    if (!net.control_images.empty()) {
      exe->set_input(net.control_images[0], fill(g, net.control_images[0], 1.0f).data());
      exe->set_input(net.control_scales[0], &scale);
    }
    exe->run();
    std::vector<float> out(size_t(g.shape(net.out).numel()));
    exe->read(net.out, out.data());
    return out;
  };
  const std::vector<float> alone = run(plain, 0), off = run(both, 0.0f), on = run(both, 1.0f);
  EXPECT_EQ(off, alone);
  EXPECT_GT(test::max_abs_diff(on, alone), 1e-4f);
  for (float v : on) ASSERT_TRUE(std::isfinite(v));
}

// ---- Preprocessors ----

struct Picture {
  int w, h;
  std::vector<uint8_t> px;  // grey
  void fill(int x0, int y0, int x1, int y1, uint8_t v) {
    for (int y = y0; y <= y1; ++y)
      for (int x = x0; x <= x1; ++x) px[size_t(y * w + x)] = v;
  }
  std::vector<uint8_t> canny(double lo, double hi) const { return canny_edges(px.data(), w, h, 1, lo, hi); }
};

// A white square (x, y in 8..15) on black, worked out by hand. Every pixel beside a side sees the same
// gradient (4 · 255 = 1020) as the side's own pixel, and OpenCV's suppression keeps the first of two equal
// magnitudes along x and y and drops the second: the left and top edges fall just outside the square (x = 7,
// y = 7), the right and bottom ones on its last pixels (x = 15, y = 15).
TEST(ControlImage, CannyOfASquare) {
  Picture p{24, 24, std::vector<uint8_t>(24 * 24, 0)};
  p.fill(8, 8, 15, 15, 255);
  const std::vector<uint8_t> e = p.canny(100, 200);
  for (int y = 9; y <= 14; ++y)
    for (int x = 0; x < 24; ++x)
      EXPECT_EQ(e[size_t(y * 24 + x)], (x == 7 || x == 15) ? 255 : 0) << x << "," << y;
  for (int x = 9; x <= 14; ++x)
    for (int y = 0; y < 24; ++y)
      EXPECT_EQ(e[size_t(y * 24 + x)], (y == 7 || y == 15) ? 255 : 0) << x << "," << y;
  for (int y = 0; y < 24; ++y)
    for (int x = 0; x < 24; ++x)
      if (x < 6 || x > 16 || y < 6 || y > 16) EXPECT_EQ(e[size_t(y * 24 + x)], 0) << x << "," << y;
  // The largest L1 gradient is the corners' (765 + 765): above it, nothing. Thresholds given high first are
  // swapped, as OpenCV swaps them.
  for (uint8_t v : p.canny(1600, 1700)) EXPECT_EQ(v, 0);
  // Between 1500 and 1520 only the square's own corner pixels remain.
  std::vector<uint8_t> corners(24 * 24, 0);
  for (int y : {8, 15})
    for (int x : {8, 15}) corners[size_t(y * 24 + x)] = 255;
  EXPECT_EQ(p.canny(1500, 1520), corners);
  EXPECT_EQ(p.canny(200, 100), e);
}

// Hysteresis: a faint square's sides (4 · 50 = 200, between the thresholds 100 and 300) are edges only where they
// touch a strong edge.
TEST(ControlImage, CannyHysteresis) {
  Picture alone{32, 16, std::vector<uint8_t>(32 * 16, 0)};
  alone.fill(4, 4, 11, 11, 50);
  for (uint8_t v : alone.canny(100, 300)) EXPECT_EQ(v, 0);
  Picture joined = alone;
  joined.fill(12, 4, 19, 11, 255);  // a bright square right beside it: the faint one's top edge continues its own
  const std::vector<uint8_t> e = joined.canny(100, 300);
  for (int x = 5; x <= 10; ++x) EXPECT_EQ(e[size_t(3 * 32 + x)], 255) << "faint top edge at x " << x;
  for (int y = 5; y <= 10; ++y) EXPECT_EQ(e[size_t(y * 32 + 3)], 255) << "faint left edge at y " << y;
  for (int y = 5; y <= 10; ++y) EXPECT_EQ(e[size_t(y * 32 + 19)], 255) << "bright right edge at y " << y;
}

// A colour picture: the channel with the largest gradient decides, so a red square on black is found as a grey one.
TEST(ControlImage, CannyOfColourAndThePipelinesMap) {
  const int w = 24, h = 24;
  FloatImage img{w, h, std::vector<float>(size_t(w * h * 3), 0.0f)};
  for (int y = 8; y <= 15; ++y)
    for (int x = 8; x <= 15; ++x) img.rgb[size_t(y * w + x) * 3] = 1.0f;
  Picture grey{w, h, std::vector<uint8_t>(size_t(w * h), 0)};
  grey.fill(8, 8, 15, 15, 255);
  ControlImageOptions o;
  o.preprocessor = ControlPreprocessor::kCanny;
  const FloatImage map = prepare_control_image(img, w, h, o);
  const std::vector<uint8_t> want = grey.canny(100, 200);
  for (size_t p = 0; p < want.size(); ++p)
    for (size_t c = 0; c < 3; ++c) ASSERT_EQ(map.rgb[p * 3 + c], want[p] ? 1.0f : 0.0f) << p;
  o.invert = true;
  const FloatImage inverted = prepare_control_image(img, w, h, o);
  for (size_t i = 0; i < map.rgb.size(); ++i) ASSERT_EQ(inverted.rgb[i], 1.0f - map.rgb[i]);
  // As it is: the same floats.
  EXPECT_EQ(prepare_control_image(img, w, h, {}).rgb, img.rgb);
}

// Another size: stretched to it, or scaled to cover it with the middle kept (a 2:1 picture whose left and right
// quarters are red and the middle half green becomes all green at 1:1).
TEST(ControlImage, FittedToTheGenerationSize) {
  const int w = 64, h = 32;
  FloatImage img{w, h, std::vector<float>(size_t(w * h * 3), 0.0f)};
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) img.rgb[size_t(y * w + x) * 3 + (x >= 16 && x < 48 ? 1 : 0)] = 1.0f;
  const FloatImage crop = fit_image(img, 16, 16, ControlResize::kCrop);
  ASSERT_EQ(crop.rgb.size(), 16u * 16u * 3u);
  for (size_t p = 0; p < 256; ++p) {
    EXPECT_NEAR(crop.rgb[p * 3 + 0], 0.0f, 1e-5f) << p;
    EXPECT_NEAR(crop.rgb[p * 3 + 1], 1.0f, 1e-5f) << p;
  }
  const FloatImage stretch = fit_image(img, 16, 16, ControlResize::kStretch);
  EXPECT_NEAR(stretch.rgb[0], 1.0f, 1e-3f);                // the left quarter: red
  EXPECT_NEAR(stretch.rgb[size_t(8 * 16 + 8) * 3 + 1], 1.0f, 1e-3f);  // the middle: green
  for (float v : stretch.rgb) EXPECT_TRUE(v >= 0.0f && v <= 1.0f);
  ControlPreprocessor pre;
  ControlResize rs;
  EXPECT_TRUE(parse_control_preprocessor("canny", &pre));
  EXPECT_FALSE(parse_control_preprocessor("depth", &pre));
  EXPECT_TRUE(parse_control_resize("stretch", &rs));
  EXPECT_FALSE(parse_control_resize("pad", &rs));
}

}  // namespace
}  // namespace websd
