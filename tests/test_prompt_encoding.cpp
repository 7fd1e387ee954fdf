// Weighted and long prompts through the conditioners (pipeline/text_conditioning.h) on tiny-sd1 and tiny-sdxl:
// against expectations computed here from the text encoder's own outputs for the plain chunks, and through
// generate() (the UNet's context grows with the chunks).
#include <gtest/gtest.h>

#include <cstdio>

#include "backends/cpu/cpu_backend.h"
#include "core/error.h"
#include "fixtures.h"
#include "io/model_source.h"
#include "models/unet.h"
#include "pipeline/sdxl_conditioning.h"
#include "pipeline/stable_diffusion.h"
#include "pipeline/text_conditioning.h"
#include "cpu_runs.h"

namespace websd {
namespace {

// Batches of different sizes may round differently (a threaded BLAS blocks them differently).
constexpr float kBatchTolerance = 1e-5f;

std::string words(int n, const std::string& word) {
  std::string s;
  for (int i = 0; i < n; ++i) s += (i ? " " : "") + word;
  return s;
}

std::vector<float> part(const std::vector<float>& v, size_t from, size_t n) {
  return {v.begin() + long(from), v.begin() + long(from + n)};
}

struct Sd1 {
  std::shared_ptr<Backend> backend = make_cpu_backend();
  std::unique_ptr<ModelSource> src = open_model_source(test::fixture("tiny-sd1/model"));
  ClipTextComponent text = ClipTextComponent::load(*src, "text_encoder", "tokenizer");
  std::unique_ptr<PromptConditioner> conditioner = make_clip_conditioner(backend, text, nullptr);
  size_t D = size_t(text.cfg.hidden_size), L = 77;

  std::vector<float> plain(const std::string& prompt) { return encode_text(*backend, text, {prompt}).last_hidden; }
};

// What the web UI computes: each token's states times its weight, then the chunk rescaled to its old mean.
std::vector<float> weighted(std::vector<float> states, const std::vector<float>& weights, size_t D) {
  double before = 0, after = 0;
  for (float v : states) before += v;
  for (size_t t = 0; t < weights.size(); ++t)
    for (size_t d = 0; d < D; ++d) states[t * D + d] *= weights[t];
  for (float v : states) after += v;
  for (float& v : states) v *= float(before / after);
  return states;
}

TEST(PromptEncoding, AnUnweightedShortPromptIsWhatDiffusersEncodes) {
  Sd1 m;
  const std::string prompt = "a photo of an astronaut riding a horse on mars";
  EXPECT_EQ(m.conditioner->encode(prompt, "", false, 64, 64, false).context, m.plain(prompt));
  EXPECT_EQ(m.conditioner->encode("(" + prompt + ":1.0)", "", false, 64, 64, false).context, m.plain(prompt));
  // Literal: the brackets are text.
  EXPECT_EQ(m.conditioner->encode("(a cat)", "", false, 64, 64, true).context, m.plain("(a cat)"));
}

TEST(PromptEncoding, WeightsScaleTheirTokensAndKeepTheMean) {
  Sd1 m;
  const std::vector<float> got = m.conditioner->encode("a (red:1.5) fox [sleeping]", "", false, 64, 64, false).context;
  std::vector<float> w(77, 1.0f);
  w[2] = 1.5f;
  w[4] = float(1 / 1.1);
  const std::vector<float> want = weighted(m.plain("a red fox sleeping"), w, m.D);
  const float err = test::max_abs_diff(got, want);
  std::printf("  weighted prompt against the rule, max abs error %.3g\n", err);
  EXPECT_LE(err, 1e-6f);
  double mean_got = 0, mean_plain = 0;
  const std::vector<float> plain = m.plain("a red fox sleeping");
  for (size_t i = 0; i < got.size(); ++i) mean_got += got[i], mean_plain += plain[i];
  EXPECT_NEAR(mean_got / double(got.size()), mean_plain / double(got.size()), 1e-6);
  EXPECT_GT(test::max_abs_diff(got, plain), 1e-3f);
}

// 90 words: chunks of 75 and 15, each encoded as a prompt of its own; the negative padded with an empty chunk.
TEST(PromptEncoding, LongPromptsAreChunksAndTheNegativeIsPadded) {
  Sd1 m;
  const std::string head = words(75, "cat"), tail = words(15, "dog");
  const UNetConditioning c = m.conditioner->encode(head + " " + tail, "blurry", true, 64, 64, false);
  const size_t chunk = m.L * m.D;
  ASSERT_EQ(c.context.size(), 2 * 2 * chunk);
  const std::pair<size_t, std::string> want[] = {{0, "blurry"}, {1, ""}, {2, head}, {3, tail}};
  for (const auto& [at, text] : want) {
    const float err = test::max_abs_diff(part(c.context, at * chunk, chunk), m.plain(text));
    std::printf("  chunk %zu ('%.12s') max abs error %.3g\n", at, text.c_str(), err);
    EXPECT_LE(err, kBatchTolerance) << at;
  }
  // Literal: cut after 75 tokens, as diffusers does.
  EXPECT_LE(
      test::max_abs_diff(m.conditioner->encode(head + " " + tail, "", false, 64, 64, true).context, m.plain(head)),
      kBatchTolerance);
  // BREAK: two chunks however short.
  const UNetConditioning b = m.conditioner->encode("a cat BREAK a dog", "", false, 64, 64, false);
  ASSERT_EQ(b.context.size(), 2 * chunk);
  EXPECT_LE(test::max_abs_diff(part(b.context, chunk, chunk), m.plain("a dog")), kBatchTolerance);
}

TEST(PromptEncoding, TooLongAPromptIsRefusedWithTheLimit) {
  Sd1 m;
  try {
    m.conditioner->encode(words(16 * 75 + 1, "cat"), "", false, 64, 64, false);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("at most 16 (1200 tokens)"), std::string::npos) << e.what();
  }
}

// The whole pipeline with a long prompt: the UNet attends over 154 tokens; the image differs from the cut one, and
// a weight of 1 changes nothing.
TEST(PromptEncoding, GenerateTakesLongAndWeightedPrompts) {
  auto sd = StableDiffusion::open(test::fixture("tiny-sd1/model"), make_cpu_backend());
  GenerateParams p = test::long_prompt_params();
  ASSERT_EQ(prompt_chunks(Sd1().text, p.prompt, false).size(), 2u);
  const std::vector<uint8_t> long_image = sd->generate(p).at(0).pixels;
  p.literal_prompt = true;
  EXPECT_NE(sd->generate(p).at(0).pixels, long_image);
  p.literal_prompt = false;
  p.negative_prompt = "blurry, low quality";
  p.prompt = "a photo of an astronaut riding a horse on mars";
  const std::vector<uint8_t> plain = sd->generate(p).at(0).pixels;
  p.prompt = "(a photo of an astronaut riding a horse on mars:1)";
  EXPECT_EQ(sd->generate(p).at(0).pixels, plain);
  p.prompt = "a photo of an (astronaut:1.6) riding a horse on mars";
  EXPECT_NE(sd->generate(p).at(0).pixels, plain);
}

// SDXL: both encoders chunk alike, their states side by side per token; the pooled output is the first chunk's.
TEST(PromptEncoding, SdxlChunksBothEncodersAndPoolsTheFirstChunk) {
  auto src = open_model_source(test::fixture("tiny-sdxl/model"));
  const UNetConfig unet = UNetConfig::from(src->config("unet"));
  auto conditioner =
      make_sdxl_conditioner(make_cpu_backend(), ClipTextComponent::load(*src, "text_encoder", "tokenizer"),
                            ClipTextComponent::load(*src, "text_encoder_2", "tokenizer_2"), unet, true, nullptr);
  const std::string head = words(75, "cat"), tail = "a (red:1.3) dog";
  const UNetConditioning whole = conditioner->encode(head + " " + tail, "", false, 64, 64, false);
  const UNetConditioning first = conditioner->encode(head, "", false, 64, 64, false);
  const UNetConditioning second = conditioner->encode(tail, "", false, 64, 64, false);
  const size_t chunk = 77 * size_t(unet.cross_attention_dim);
  ASSERT_EQ(whole.context.size(), 2 * chunk);
  EXPECT_LE(test::max_abs_diff(part(whole.context, 0, chunk), first.context), kBatchTolerance);
  EXPECT_LE(test::max_abs_diff(part(whole.context, chunk, chunk), second.context), kBatchTolerance);
  EXPECT_LE(test::max_abs_diff(whole.added, first.added), kBatchTolerance);
  EXPECT_GT(test::max_abs_diff(whole.added, second.added), 1e-3f);
  // No negative prompt: zeros as long as the prompt.
  const UNetConditioning guided = conditioner->encode(head + " " + tail, "", true, 64, 64, false);
  ASSERT_EQ(guided.context.size(), 4 * chunk);
  EXPECT_EQ(part(guided.context, 0, 2 * chunk), std::vector<float>(2 * chunk, 0.0f));
}

}  // namespace
}  // namespace websd
