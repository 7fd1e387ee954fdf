// The hires fix (GenerateParams::hires_*), tested by property: the final size, the same image for the same seed,
// strength 0 as the upscaled first pass itself, both upscalers, the progress of both passes, and refused settings.
#include <gtest/gtest.h>

#include "backends/cpu/cpu_backend.h"
#include "core/error.h"
#include "fixtures.h"
#include "io/pipeline_folder.h"
#include "pipeline/image.h"
#include "pipeline/stable_diffusion.h"
#include "pipeline/vae_decode.h"

namespace websd {
namespace {

GenerateParams params() {
  GenerateParams p;
  p.prompt = "a lighthouse at dusk";
  p.negative_prompt = "blurry";
  p.width = p.height = 64;
  p.steps = 4;
  p.seed = 21;
  p.scheduler = "euler_a";
  p.hires_scale = 1.5f;
  p.hires_strength = 0.5f;
  return p;
}

TEST(Hires, ResizeIsTorchsBilinear) {
  const std::vector<float> up = resize_bilinear({0, 1, 2, 3}, 1, 2, 2, 4, 4);
  const std::vector<float> want{0, 0.25f, 0.75f, 1, 0.5f, 0.75f, 1.25f, 1.5f, 1.5f, 1.75f, 2.25f, 2.5f, 2, 2.25f, 2.75f, 3};
  EXPECT_EQ(up, want);
}

TEST(Hires, TwoPassesAtTheUpscaledSizeFromTheSameSeed) {
  auto sd = StableDiffusion::open(test::fixture("tiny-sd1/model"), make_cpu_backend());
  GenerateParams p = params();
  int last_step = 0, last_total = 0;
  GenerateCallbacks cb;
  cb.on_progress = [&](int, int step, int total) {
    last_step = step;
    last_total = total;
    return true;
  };
  const RgbImage a = sd->generate(p, cb).at(0);
  EXPECT_EQ(a.width, 96);
  EXPECT_EQ(a.height, 96);
  EXPECT_EQ(last_total, 4 + 2);  // the first pass's 4 steps, then the last int(4 * 0.5) of 4
  EXPECT_EQ(last_step, last_total);
  EXPECT_EQ(sd->generate(p).at(0).pixels, a.pixels);
  p.seed = 22;
  EXPECT_NE(sd->generate(p).at(0).pixels, a.pixels);
  p.seed = 21;
  p.hires_scale = 2;
  p.hires_steps = 6;
  const RgbImage b = sd->generate(p).at(0);
  EXPECT_EQ(b.width, 128);
  p.hires_upscaler = "image";
  const RgbImage c = sd->generate(p).at(0);
  EXPECT_EQ(c.width, 128);
  EXPECT_NE(c.pixels, b.pixels);
}

// Strength 0: the first pass's latents upscaled and decoded, nothing more.
TEST(Hires, StrengthZeroKeepsTheUpscaledFirstPass) {
  std::shared_ptr<Backend> cpu = make_cpu_backend();
  auto sd = StableDiffusion::open(test::fixture("tiny-sd1/model"), cpu);
  GenerateParams p = params();
  p.hires_scale = 1.0f;
  std::vector<float> first;
  GenerateCallbacks cb;
  cb.on_latents = [&](int, int, const std::vector<float>& x) { first = x; };
  sd->generate(p, cb);
  p.hires_scale = 2;
  p.hires_strength = 0;
  const RgbImage kept = sd->generate(p).at(0);

  auto folder = PipelineFolder::open(test::fixture("tiny-sd1/model"));
  const VaeConfig vae = VaeConfig::from(folder.config("vae"));
  std::vector<float> z = resize_bilinear(first, 4, 8, 8, 16, 16);
  for (float& v : z) v /= vae.scaling_factor;
  VaeDecoder decoder(cpu, vae, folder.weights("vae"), 16, 16);
  EXPECT_EQ(kept.pixels, decoded_to_rgb(decoder.decode(z).data(), 128, 128).pixels);
}

TEST(Hires, BadSettingsAreRefusedUpFront) {
  auto sd = StableDiffusion::open(test::fixture("tiny-sd1/model"), make_cpu_backend());
  const auto refused = [&](GenerateParams p, const std::string& says) {
    try {
      sd->generate(p);
      ADD_FAILURE() << "no error for: " << says;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
      EXPECT_NE(std::string(e.what()).find(says), std::string::npos) << e.what();
    }
  };
  GenerateParams p = params();
  p.hires_scale = 5;
  refused(p, "hires scale must be in (1, 4]");
  p = params();
  p.hires_upscaler = "lanczos";
  refused(p, "hires upscaler must be");
  p = params();
  p.hires_strength = 0.1f;
  refused(p, "leaves no step to run");
  p = params();
  p.width = p.height = 1536;
  p.hires_scale = 2;
  refused(p, "at most 4096 pixels on a side and 4194304 pixels in all");
}

}  // namespace
}  // namespace websd
