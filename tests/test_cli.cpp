// The websd command-line tool, run as a user would: exit codes, one-line errors, PNG pixels and text chunk.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include <zlib.h>

#include "apps/png_io.h"
#include "core/error.h"
#include "fixtures.h"
#include "image_parity.h"
#include "io/safetensors.h"

namespace websd {
namespace {

struct Result {
  int code;
  std::string out;  // stdout and stderr together
};

Result run(const std::string& args) {
  const std::string cmd = std::string(WEBSD_BINARY) + " " + args + " 2>&1";
  Result r{-1, {}};
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  const int status = pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::string tmp(const std::string& name) { return (std::filesystem::temp_directory_path() / name).string(); }

TEST(Cli, GenerateWritesTheDiffusersImageWithItsParameters) {
  const std::string out = tmp("websd_cli_test.png");
  std::filesystem::remove(out);
  Result r = run("generate --model " + test::fixture("tiny-sd1/model") +
                 " --prompt 'a photo of an astronaut riding a horse on mars' --negative-prompt 'blurry, low quality'"
                 " --seed 1234 --steps 5 --guidance 7.5 --scheduler pndm -W 64 -H 64 -o " + out);
  ASSERT_EQ(r.code, 0) << r.out;
  PngText text;
  RgbImage img = read_png(out, &text);
  ASSERT_EQ(img.width, 64);
  ASSERT_EQ(img.height, 64);
  auto ref = SafetensorsFile::open(test::fixture("tiny-sd1/reference.safetensors"));
  const uint8_t* want = static_cast<const uint8_t*>(ref.get("pndm/image_u8").data);
  int worst = 0;
  for (size_t i = 0; i < img.pixels.size(); ++i) worst = std::max(worst, std::abs(int(img.pixels[i]) - int(want[i])));
  EXPECT_LE(worst, 2);
  std::string params;
  for (const auto& [k, v] : text)
    if (k == "parameters") params = v;
  EXPECT_EQ(params,
            "a photo of an astronaut riding a horse on mars\nNegative prompt: blurry, low quality\n"
            "Steps: 5, Sampler: PLMS, CFG scale: 7.5, Seed: 1234, Size: 64x64, Model: model, Scheduler: pndm");
  std::filesystem::remove(out);
}

// TAESD draws the final image (diffusers' tiny-taesd run) and the live preview; the last preview is that image.
TEST(Cli, TaesdDecodesAndPreviews) {
  const std::string out = tmp("websd_cli_taesd.png"), live = tmp("websd_cli_live.png");
  std::filesystem::remove(live);
  const std::string taesd = test::fixture("tiny-taesd/taesd");
  Result r = run("generate --model " + test::fixture("tiny-sd1/model") +
                 " -p 'a photo of an astronaut riding a horse on mars' -n 'blurry, low quality' --seed 1234 --steps 6"
                 " --scheduler pndm -W 64 -H 64 --vae-decoder " + taesd + " --preview " + live +
                 " --preview-decoder " + taesd + " -q -o " + out);
  ASSERT_EQ(r.code, 0) << r.out;
  const RgbImage img = read_png(out), preview = read_png(live);
  auto ref = SafetensorsFile::open(test::fixture("tiny-taesd/reference.safetensors"));
  const TensorView want = ref.get("pndm/image_u8");
  test::expect_image_matches(img.pixels.data(), img.pixels.size(), static_cast<const uint8_t*>(want.data),
                             size_t(want.shape.numel()), "cli tiny-taesd pndm");
  EXPECT_EQ(preview.pixels, img.pixels);
  // Without a preview decoder the preview is the latents' colours at 1/8 size.
  r = run("generate --model " + test::fixture("tiny-sd1/model") + " -p x --steps 2 -W 64 -H 64 --preview " + live +
          " --preview-every 2 -q -o " + out);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(read_png(live).width, 8);
  r = run("generate --model " + test::fixture("tiny-sd1/model") + " -p x --steps 2 --vae-decoder " +
          test::fixture("tiny-sd1/model/vae") + " -o " + out);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("not AutoencoderTiny (TAESD)"), std::string::npos) << r.out;
}

// A hires fix doubles the size and is recorded as the web UI records one.
TEST(Cli, HiresFix) {
  const std::string out = tmp("websd_cli_hires.png");
  Result r = run("generate --model " + test::fixture("tiny-sd1/model") + " -p 'a (red:1.2) fox' --steps 2 -W 64 -H 64"
                 " --seed 3 --hires-scale 2 --hires-strength 0.5 -q -o " + out);
  ASSERT_EQ(r.code, 0) << r.out;
  PngText text;
  const RgbImage img = read_png(out, &text);
  EXPECT_EQ(img.width, 128);
  EXPECT_EQ(img.height, 128);
  std::string params;
  for (const auto& [k, v] : text)
    if (k == "parameters") params = v;
  EXPECT_NE(params.find("Size: 64x64"), std::string::npos) << params;
  EXPECT_NE(params.find(", Denoising strength: 0.5, Hires upscale: 2, Hires upscaler: Latent"), std::string::npos)
      << params;
  r = run("generate --model " + test::fixture("tiny-sd1/model") + " -p x --hires-scale 2 --hires-upscaler bicubic");
  EXPECT_NE(r.code, 0);
}

TEST(Cli, BatchCountWritesNumberedFilesWithConsecutiveSeeds) {
  const std::string out = tmp("websd_cli_batch.png");
  Result r = run("generate --model " + test::fixture("tiny-sd1/model") +
                 " -p cat --seed 7 --steps 2 -W 64 -H 64 --batch-count 2 -q -o " + out);
  ASSERT_EQ(r.code, 0) << r.out;
  for (int i : {1, 2}) {
    const std::string path = tmp("websd_cli_batch-" + std::to_string(i) + ".png");
    PngText text;
    read_png(path, &text);
    EXPECT_NE(text.at(0).second.find("Seed: " + std::to_string(6 + i)), std::string::npos) << text.at(0).second;
    std::filesystem::remove(path);
  }
}

// img2img from a PNG: the size comes from it, the text chunk records the strength, and an image of another size
// than the one asked for is refused with both sizes named. (Parity with diffusers: test_pipeline's Img2Img.)
TEST(Cli, Img2ImgStartsFromAPng) {
  const std::string model = test::fixture("tiny-sd1/model"), init = tmp("websd_cli_init.png"),
                    out = tmp("websd_cli_img2img.png");
  ASSERT_EQ(run("generate --model " + model + " -p cat --seed 3 --steps 2 -W 64 -H 64 -q -o " + init).code, 0);
  Result r = run("generate --model " + model + " -p dog --seed 4 --steps 4 --strength 0.5 --init-image " + init +
                 " -q -o " + out);
  ASSERT_EQ(r.code, 0) << r.out;
  PngText text;
  const RgbImage img = read_png(out, &text);
  EXPECT_EQ(img.width, 64);
  EXPECT_NE(text.at(0).second.find("Size: 64x64"), std::string::npos) << text.at(0).second;
  EXPECT_NE(text.at(0).second.find("Denoising strength: 0.5"), std::string::npos) << text.at(0).second;
  r = run("generate --model " + model + " -p dog --steps 4 --init-image " + init + " -W 128 -H 128 -o " + out);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("the init image is 64x64 but the image asked for is 128x128"), std::string::npos) << r.out;
  r = run("generate --model " + model + " -p dog --steps 4 --init-image " + model + "/model_index.json -o " + out);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("not a readable PNG"), std::string::npos) << r.out;
  std::filesystem::remove(init);
  std::filesystem::remove(out);
}

// Every user error: non-zero exit and a message that says what is wrong.
TEST(Cli, ErrorsAreOneClearLine) {
  const std::string model = test::fixture("tiny-sd1/model");
  struct Bad {
    std::string args, needle;
  };
  const std::string bad_tokenizer = tmp("websd_cli_bad_tokenizer");
  std::filesystem::remove_all(bad_tokenizer);
  std::filesystem::create_directories(bad_tokenizer + "/tokenizer");
  for (const char* c : {"model_index.json", "unet", "vae", "text_encoder", "scheduler"})
    std::filesystem::create_symlink(model + "/" + c, bad_tokenizer + "/" + c);
  std::ofstream(bad_tokenizer + "/tokenizer/spiece.model") << "sentencepiece";
  for (const Bad& b : std::vector<Bad>{
           {"generate --model /no/such/model -p x", "/no/such/model"},
           {"generate --model " + model + " -p x --scheduler warp", "--scheduler"},
           {"generate --model " + model + " -p x -W 100 -H 64", "multiples of 8"},
           {"generate --model " + model + " -p x --steps 0", "--steps"},
           {"generate --model " + model + " -p x --lora-mode fused", "--lora-mode"},
           {"generate --model " + model + "/unet/diffusion_pytorch_model.bin -p x", "no such file"},
           {"generate --model " + bad_tokenizer + " -p x", "tokenizer"},
           {"generate -p x", "--model"},
           {"frobnicate", "frobnicate"},
       }) {
    Result r = run(b.args);
    EXPECT_NE(r.code, 0) << b.args;
    EXPECT_NE(r.out.find(b.needle), std::string::npos) << b.args << "\n" << r.out;
    std::printf("  websd %s\n    -> exit %d: %s", b.args.c_str(), r.code, r.out.substr(0, r.out.find('\n') + 1).c_str());
  }
  std::filesystem::remove_all(bad_tokenizer);
}

// A LoRA merged (the default) and applied at run time draws the same image.
TEST(Cli, LoraModesDrawTheSameImage) {
  const std::string args = "generate --model " + test::fixture("tiny-sd1/model") +
                           " -p 'a cat' --seed 3 --steps 4 -W 64 -H 64 --lora " +
                           test::fixture("tiny-sd1-creative/lora_kohya.safetensors") + ":0.8 -o ";
  const std::string merged = tmp("websd_cli_lora_merged.png"), runtime = tmp("websd_cli_lora_runtime.png");
  Result a = run(args + merged), b = run(args + runtime + " --lora-mode runtime");
  ASSERT_EQ(a.code, 0) << a.out;
  ASSERT_EQ(b.code, 0) << b.out;
  const RgbImage x = read_png(merged), y = read_png(runtime);
  ASSERT_EQ(x.pixels.size(), y.pixels.size());
  int worst = 0;
  for (size_t i = 0; i < x.pixels.size(); ++i) worst = std::max(worst, std::abs(int(x.pixels[i]) - int(y.pixels[i])));
  EXPECT_LE(worst, 1);
  std::filesystem::remove(merged);
  std::filesystem::remove(runtime);
}

// The fixture's control image (white shapes on black: exact in 8 bits) as a PNG at `path`.
void write_control_png(const std::string& path) {
  const auto ref = SafetensorsFile::open(test::fixture("tiny-sd1-creative/reference.safetensors"));
  const TensorView& t = ref.get("control_image");
  const std::vector<float> v = t.to_f32();
  RgbImage img{int(t.shape[1]), int(t.shape[0]), std::vector<uint8_t>(v.size())};
  for (size_t i = 0; i < v.size(); ++i) img.pixels[i] = uint8_t(v[i] * 255.0f + 0.5f);
  write_png(path, img, {});
}

// diffusers' controlnet_pndm run from the command line, the ControlNet as its folder and as an f32 web pack (the
// same image); the map it reads written beside it; a ControlNet pack converted to q8 generates too.
TEST(Cli, ControlNetGuidesTheImage) {
  const std::string control = tmp("websd_cli_control.png"), out = tmp("websd_cli_controlnet.png"),
                    map = tmp("websd_cli_control_map.png"), pack = tmp("websd_cli_controlnet_pack");
  write_control_png(control);
  const std::string args = "generate --model " + test::fixture("tiny-sd1/model") +
                           " -p 'a photo of an astronaut riding a horse on mars' -n 'blurry, low quality' --seed 97531"
                           " --steps 6 --scheduler pndm --timestep-spacing leading -W 64 -H 64 --control-image " +
                           control + " --control-map " + map + " -o " + out + " --controlnet ";
  Result r = run(args + test::fixture("tiny-sd1-creative/controlnet"));
  ASSERT_EQ(r.code, 0) << r.out;
  PngText text;
  const RgbImage img = read_png(out, &text);
  const auto ref = SafetensorsFile::open(test::fixture("tiny-sd1-creative/reference.safetensors"));
  const TensorView& want = ref.get("controlnet_pndm/image_u8");
  test::expect_image_matches(img.pixels.data(), img.pixels.size(), static_cast<const uint8_t*>(want.data),
                             size_t(want.shape.numel()), "controlnet_pndm from the command line");
  std::string params;
  for (const auto& [k, v] : text)
    if (k == "parameters") params = v;
  EXPECT_NE(params.find("ControlNet 0: \"Module: none, Model: controlnet, Weight: 1, Resize Mode: Crop and Resize, "
                        "Guidance Start: 0, Guidance End: 1\""),
            std::string::npos)
      << params;
  EXPECT_EQ(read_png(map).pixels, read_png(control).pixels);  // as it is: the picture itself

  std::filesystem::remove_all(pack);
  r = run("convert " + test::fixture("tiny-sd1-creative/controlnet") + " -o " + pack + " --dtype f32 --verify");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("controlnet"), std::string::npos) << r.out;
  r = run(args + pack);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(read_png(out).pixels, img.pixels) << "the f32 pack draws what the folder draws";
  r = run("convert " + test::fixture("tiny-sd1-creative/controlnet") + " -o " + pack + " --dtype q8");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("quantized to int8"), std::string::npos) << r.out;
  r = run(args + pack + " --control-scale 0.5 --control-end 0.5");
  EXPECT_EQ(r.code, 0) << r.out;

  // Options that do not fit: one clear line each.
  r = run(args + pack + " --control-scale 1 --control-scale 2 --control-scale 3");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("once per --controlnet"), std::string::npos) << r.out;
  r = run(args + test::fixture("tiny-sd1/model"));
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("not a ControlNet"), std::string::npos) << r.out;
  std::ofstream(tmp("websd_not_a_png.png")) << "GIF89a";
  r = run("generate --model " + test::fixture("tiny-sd1/model") + " -p x --controlnet " +
          test::fixture("tiny-sd1-creative/controlnet") + " --control-image " + tmp("websd_not_a_png.png"));
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("websd_not_a_png.png"), std::string::npos) << r.out;
  for (const std::string& f : {control, out, map, tmp("websd_not_a_png.png")}) std::filesystem::remove(f);
  std::filesystem::remove_all(pack);
}

TEST(Cli, PickledCheckpointsAreRefusedWithAReason) {
  const std::string ckpt = tmp("websd_model.ckpt");
  std::ofstream(ckpt) << "not really a pickle";
  Result r = run("generate --model " + ckpt + " -p x");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("arbitrary code"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(".safetensors"), std::string::npos) << r.out;
  std::filesystem::remove(ckpt);
}

TEST(Cli, ConvertWritesAPackThatGenerates) {
  const std::string dir = tmp("websd_cli_pack");
  std::filesystem::remove_all(dir);
  Result r = run("convert " + test::fixture("tiny-sd2/model") + " -o " + dir + " --dtype q8 --verify");
  ASSERT_EQ(r.code, 0) << r.out;
  for (const char* s : {"text_encoder", "unet", "vae", "quantized to int8", "verified"})
    EXPECT_NE(r.out.find(s), std::string::npos) << s << "\n" << r.out;
  r = run("generate --model " + dir + " -p fox --steps 2 -q -o " + tmp("websd_cli_pack.png"));
  EXPECT_EQ(r.code, 0) << r.out;
  r = run("convert /no/model -o " + dir);
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("/no/model"), std::string::npos) << r.out;
  std::filesystem::remove_all(dir);
}

TEST(Cli, HelpAndInfo) {
  Result help = run("generate --help");
  EXPECT_EQ(help.code, 0);
  for (const char* opt : {"--model", "--prompt", "--negative-prompt", "--steps", "--guidance", "--seed", "--scheduler",
                          "--width", "--height", "--batch-count", "--output", "--tokenizer", "dpmpp_2m_karras"})
    EXPECT_NE(help.out.find(opt), std::string::npos) << opt;
  Result info = run("info --model " + test::fixture("tiny-sd2/model"));
  EXPECT_EQ(info.code, 0) << info.out;
  for (const char* s : {"unet", "heads 2,4,4", "linear projections", "F16", "PNDMScheduler"})
    EXPECT_NE(info.out.find(s), std::string::npos) << s << "\n" << info.out;
}

// `websd bench` on a model's own architecture, each sgemm and Winograd forced on and off: it says which sgemm runs
// and why, and --json holds every network's time (what scripts/bench-cpu.sh summarises).
TEST(Cli, BenchReportsItsChoicesAndWritesJson) {
  const std::string json = tmp("websd-bench-cli.json");
  for (const char* flags : {"--sgemm portable --winograd on", "--sgemm auto --winograd off", "--sgemm blas"}) {
    std::filesystem::remove(json);
    Result r = run("bench --arch " + test::fixture("tiny-sd1/model") + " " + flags + " --json " + json);
    ASSERT_EQ(r.code, 0) << flags << "\n" << r.out;
    EXPECT_NE(r.out.find("sgemm: "), std::string::npos) << r.out;
    std::ifstream in(json);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    for (const char* key : {"\"text encoder\"", "\"unet\"", "\"vae decoder\"", "\"peak_rss_bytes\"", "\"choices\""})
      EXPECT_NE(text.find(key), std::string::npos) << key << " in " << text;
  }
  EXPECT_NE(run("bench --sgemm fastest").code, 0);
  std::filesystem::remove(json);
}

// The PNG at `path` against a fixture image; returns its parameters text.
std::string expect_png_matches(const std::string& path, const std::string& reference, const std::string& key) {
  PngText text;
  const RgbImage img = read_png(path, &text);
  auto ref = SafetensorsFile::open(test::fixture(reference));
  const TensorView& want = ref.get(key);
  test::expect_image_matches(img.pixels.data(), img.pixels.size(), static_cast<const uint8_t*>(want.data),
                             size_t(want.shape.numel()), "websd generate " + key);
  for (const auto& [k, v] : text)
    if (k == "parameters") return v;
  return "";
}

// SDXL opens like any folder; its native size comes from the config (64 for the tiny model).
TEST(Cli, GeneratesSdxl) {
  const std::string out = tmp("websd_cli_sdxl.png");
  Result r = run("generate --model " + test::fixture("tiny-sdxl/model") +
                 " -p 'a cinematic photo of a red fox in the snow' --seed 2024 --steps 5 --guidance 5"
                 " --scheduler euler -q -o " + out);
  ASSERT_EQ(r.code, 0) << r.out;
  const std::string params = expect_png_matches(out, "tiny-sdxl/reference.safetensors", "euler/image_u8");
  EXPECT_NE(params.find("Size: 64x64"), std::string::npos) << params;
  std::filesystem::remove(out);
}

// SD-Turbo style sampling: Euler ancestral with trailing timesteps and no guidance; the PNG records the override.
TEST(Cli, TimestepSpacingOverride) {
  const std::string out = tmp("websd_cli_turbo.png");
  Result r = run("generate --model " + test::fixture("tiny-sd1/model") +
                 " -p 'a photo of an astronaut riding a horse on mars' --seed 7 --steps 1 --guidance 0"
                 " --scheduler euler_a --timestep-spacing trailing -W 64 -H 64 -q -o " + out);
  ASSERT_EQ(r.code, 0) << r.out;
  const std::string params = expect_png_matches(out, "tiny-sd1/reference_extra.safetensors", "turbo_1step/image_u8");
  EXPECT_NE(params.find(", Scheduler: euler_a, Scheduler config: timestep_spacing=trailing"), std::string::npos)
      << params;
  r = run("generate --model " + test::fixture("tiny-sd1/model") +
          " -p x --steps 1 --scheduler euler_a --scheduler-option timestep_spacing=trailing"
          " --scheduler-option steps_offset=0 -W 64 -H 64 -q -o " + out);
  EXPECT_EQ(r.code, 0) << r.out;
  for (const std::string bad : {"--timestep-spacing sideways", "--scheduler-option karras", "--scheduler ddim "
                                "--scheduler-option use_karras_sigmas=true"}) {
    r = run("generate --model " + test::fixture("tiny-sd1/model") + " -p x --steps 1 -q -o " + out + " " + bad);
    EXPECT_NE(r.code, 0) << bad;
    std::printf("  websd generate ... %s\n    -> exit %d: %s", bad.c_str(), r.code,
                r.out.substr(0, r.out.find('\n') + 1).c_str());
  }
  std::filesystem::remove(out);
}

TEST(Cli, InfoPrintsTheFamily) {
  for (auto [model, family] : {std::pair{"tiny-sd1", "sd1"}, {"tiny-sdxl", "sdxl"}, {"tiny-lcm", "sd1-lcm"},
                               {"tiny-inpaint", "sd1-inpaint"}}) {
    Result r = run("info --model " + test::fixture(std::string(model) + "/model"));
    EXPECT_EQ(r.code, 0) << r.out;
    EXPECT_NE(r.out.find(std::string("family        ") + family + " ("), std::string::npos) << r.out;
  }
  Result xl = run("info --model " + test::fixture("tiny-sdxl/model"));
  for (const char* s : {"text_encoder_2", "projection 32", "transformer layers 1,1,2", "text_time"})
    EXPECT_NE(xl.out.find(s), std::string::npos) << s << "\n" << xl.out;
}

// Inpainting from two PNGs, the image and a mask (white = repaint), with the inpainting default strength 1; the
// mask must be the image's size and an inpainting model needs both. (Parity: test_pipeline's Inpainting.)
TEST(Cli, InpaintsWithAMask) {
  const std::string model = test::fixture("tiny-inpaint/model"), init = tmp("websd_cli_inpaint_init.png"),
                    mask = tmp("websd_cli_inpaint_mask.png"), out = tmp("websd_cli_inpaint.png");
  RgbImage image{64, 64, std::vector<uint8_t>(64 * 64 * 3)}, m{64, 64, std::vector<uint8_t>(64 * 64 * 3, 0)};
  for (size_t i = 0; i < image.pixels.size(); ++i) image.pixels[i] = uint8_t((i * 13) % 256);
  for (int y = 0; y < 64; ++y)
    for (int x = 32; x < 64; ++x) std::fill_n(&m.pixels[size_t(y * 64 + x) * 3], 3, uint8_t(255));
  write_png(init, image, {});
  write_png(mask, m, {});
  Result r = run("generate --model " + model + " -p fruit --steps 3 --seed 2 --init-image " + init + " --mask " +
                 mask + " -q -o " + out);
  ASSERT_EQ(r.code, 0) << r.out;
  PngText text;
  const RgbImage got = read_png(out, &text);
  EXPECT_EQ(got.width, 64);
  EXPECT_NE(text.at(0).second.find("Denoising strength: 1"), std::string::npos) << text.at(0).second;
  RgbImage small{32, 32, std::vector<uint8_t>(32 * 32 * 3, 0)};
  write_png(mask, small, {});
  r = run("generate --model " + model + " -p fruit --steps 3 --init-image " + init + " --mask " + mask + " -o " + out);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("the mask is 32x32, the init image 64x64"), std::string::npos) << r.out;
  r = run("generate --model " + model + " -p fruit --steps 3 -o " + out);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("needs the image and a mask"), std::string::npos) << r.out;
  for (const auto& f : {init, mask, out}) std::filesystem::remove(f);
}

}  // namespace
}  // namespace websd

namespace websd {
namespace {

// libpng's errors come back as Errors through its own longjmp mechanism (no C++ exception crosses its frames):
// damaged, truncated and oversized files are refused, a full disk is reported.
TEST(PngIo, DamageIsAnErrorNotACrash) {
  RgbImage img{4, 3, std::vector<uint8_t>(4 * 3 * 3, 200)};
  const std::string good = tmp("websd_png_good.png"), bad = tmp("websd_png_bad.png");
  write_png(good, img, {{"parameters", "a cat"}});
  PngText text;
  const RgbImage back = read_png(good, &text);
  EXPECT_EQ(back.pixels, img.pixels);
  ASSERT_EQ(text.size(), 1u);
  EXPECT_EQ(text[0].second, "a cat");

  std::ifstream in(good, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), {});
  const auto expect_corrupt = [&](const std::string& data, const char* what) {
    std::ofstream(bad, std::ios::binary) << data;
    try {
      read_png(bad);
      ADD_FAILURE() << what << ": read without an error";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kCorruptFile) << what;
      EXPECT_NE(std::string(e.what()).find("not a readable PNG"), std::string::npos) << e.what();
    }
  };
  expect_corrupt(bytes.substr(0, bytes.size() / 2), "truncated");
  expect_corrupt("not a png at all", "not a PNG");
  std::string huge = bytes;  // IHDR width (bytes 16..19) set to 2^30: refused before any pixel memory
  huge[16] = 0x40;
  expect_corrupt(huge, "oversized");
  // A chunk claiming more bytes than the file holds is refused before libpng allocates them (found by
  // scripts/fuzz.sh: a 112-byte file whose tEXt claimed 1.8 GB).
  std::string claims = bytes;  // the chunk after IHDR starts at byte 33: its length set to 0x6d000019
  claims[33] = 0x6d, claims[34] = 0, claims[35] = 0, claims[36] = 0x19;
  const auto expect_message = [&](const std::string& data, const char* needle) {
    std::ofstream(bad, std::ios::binary) << data;
    try {
      read_png(bad);
      ADD_FAILURE() << needle << ": read without an error";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_message(claims, "claims 1828716569 bytes");
  // A header whose rows the image data cannot hold (deflate packs at most 1032:1) is refused before the pixels
  // are allocated: a 16384x16384 claim in a 100-byte file took 805 MB.
  std::string wide = bytes;
  wide[16] = 0, wide[17] = 0, wide[18] = 0x40, wide[19] = 0;  // width 16384
  wide[20] = 0, wide[21] = 0, wide[22] = 0x40, wide[23] = 0;  // height 16384
  const uLong crc = crc32(0, reinterpret_cast<const Bytef*>(wide.data() + 12), 17);  // IHDR's type and data
  for (int i = 0; i < 4; ++i) wide[29 + size_t(i)] = char(uint8_t(crc >> (24 - 8 * i)));
  expect_message(wide, "cannot hold a 16384x16384 image");
  std::filesystem::remove(good);
  std::filesystem::remove(bad);
  if (std::filesystem::exists("/dev/full")) {
    try {
      write_png("/dev/full", img, {});
      ADD_FAILURE() << "writing to a full disk succeeded";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("writing the PNG failed"), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace websd
