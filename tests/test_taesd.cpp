// TAESD (models/taesd.h) against diffusers' AutoencoderTiny on tiny-taesd (fixtures README): the decoder and the
// encoder within 1e-4, the tiny-sd1 run decoded by it within 2 levels, previews drawn by it, and folders that are
// no TAESD.
#include <gtest/gtest.h>

#include <cstdio>

#include "backends/cpu/cpu_backend.h"
#include "core/error.h"
#include "fixtures.h"
#include "image_parity.h"
#include "pipeline/image.h"
#include "taesd_runs.h"

namespace websd {
namespace {

constexpr float kTolerance = 1e-4f;

SafetensorsFile reference() { return SafetensorsFile::open(test::fixture("tiny-taesd/reference.safetensors")); }

TEST(Taesd, DecoderAndEncoderMatchDiffusers) {
  const float dec = test::max_abs_diff(test::taesd_decoded(make_cpu_backend(), test::fixtures_dir()),
                                       reference().get("decoded").to_f32());
  auto backend = make_cpu_backend();
  const float enc = test::max_abs_diff(test::taesd_encoded(*backend, test::fixtures_dir()),
                                       reference().get("encoded").to_f32());
  std::printf("  tiny-taesd decoded max abs error %.3g, encoded %.3g (tolerance 1e-4)\n", dec, enc);
  EXPECT_LE(dec, kTolerance);
  EXPECT_LE(enc, kTolerance);
}

// The final image by TAESD matches diffusers' pipeline with TAESD as its VAE; with TAESD previews too, each
// preview is the full-size image of the latents so far, so the last one is the final image itself.
TEST(Taesd, RunMatchesDiffusersAndPreviewsAreFullSize) {
  auto sd = StableDiffusion::open(test::fixture("tiny-sd1/model"), make_cpu_backend());
  GenerateParams p = test::taesd_run_params(test::fixtures_dir());
  const TensorView want = reference().get("pndm/image_u8");
  const RgbImage img = sd->generate(p).at(0);
  test::expect_image_matches(img.pixels.data(), img.pixels.size(), static_cast<const uint8_t*>(want.data),
                             size_t(want.shape.numel()), "tiny-taesd pndm");

  GenerateCallbacks cb;
  cb.preview_every = 1;
  std::vector<RgbImage> previews;
  cb.on_preview = [&](int, int, const RgbImage& preview) { previews.push_back(preview); };
  p.preview_decoder = p.vae_decoder;
  EXPECT_EQ(sd->generate(p, cb).at(0).pixels, img.pixels);
  ASSERT_EQ(previews.size(), 7u);  // 6 PNDM steps are 7 iterations
  EXPECT_EQ(previews[0].width, 64);
  EXPECT_EQ(previews[0].height, 64);
  EXPECT_EQ(previews.back().pixels, img.pixels);
  EXPECT_NE(previews.front().pixels, img.pixels);

  // Without a preview decoder: the latent-to-RGB map at latent size.
  p.preview_decoder.clear();
  previews.clear();
  sd->generate(p, cb);
  ASSERT_EQ(previews.size(), 7u);
  EXPECT_EQ(previews[0].width, 8);
}

TEST(Taesd, AFolderThatIsNoTaesdIsRefused) {
  auto sd = StableDiffusion::open(test::fixture("tiny-sd1/model"), make_cpu_backend());
  GenerateParams p = test::taesd_run_params(test::fixtures_dir());
  p.steps = 1;
  p.vae_decoder = test::fixture("tiny-sd1/model/vae");
  try {
    sd->generate(p);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnsupported);
    EXPECT_NE(std::string(e.what()).find("_class_name is AutoencoderKL, not AutoencoderTiny"), std::string::npos) << e.what();
  }
  p.vae_decoder = test::fixture("nonexistent-taesd");
  EXPECT_THROW(sd->generate(p), Error);
}

TEST(Taesd, LatentPreviewsHaveFactorsPerFamily) {
  std::vector<float> z(4, 0.5f);
  const RgbImage sd = latent_preview(z.data(), 1, 1, false), xl = latent_preview(z.data(), 1, 1, true);
  EXPECT_NE(sd.pixels, xl.pixels);
  // SDXL's R: 0.1084 + 0.5 (0.3651 - 0.2533 + 0.1076 - 0.3165) = 0.05985, then / 2 + 0.5.
  EXPECT_EQ(xl.pixels[0], uint8_t(std::lround((0.05985 / 2 + 0.5) * 255)));
}

}  // namespace
}  // namespace websd
