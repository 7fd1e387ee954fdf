// Rung 5 of the correctness ladder: whole text-to-image runs against diffusers' final images, for every scheduler
// on tiny-sd1 (epsilon) and tiny-sd2 (v-prediction), through the C API the apps use.
#include <gtest/gtest.h>
#include <malloc.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <thread>
#include <nlohmann/json.hpp>

#include "backends/cpu/cpu_backend.h"
#include "core/error.h"
#include "fixtures.h"
#include "pipeline/stable_diffusion.h"
#include "pipeline/vae_encode.h"
#include "io/config.h"
#include "io/pipeline_folder.h"
#include "image_parity.h"
#include "cpu_runs.h"
#include "image_runs.h"
#include "io/safetensors.h"
#include "websd/websd.h"

namespace websd {
namespace {

struct RunCase {
  std::string model, scheduler;
};

// reference.json is written by Python (with -Infinity); Config reads that dialect.
nlohmann::json reference_json(const std::string& model) {
  return Config::load(test::fixture(model + "/reference.json")).json();
}

void expect_image_matches(const websd_image& img, const TensorView& want, const std::string& what) {
  test::expect_image_matches(img.data, size_t(img.width * img.height * 3), static_cast<const uint8_t*>(want.data),
                             size_t(want.shape.numel()), what);
}

class Txt2ImgParity : public testing::TestWithParam<RunCase> {};

TEST_P(Txt2ImgParity, MatchesDiffusersImage) {
  const RunCase& c = GetParam();
  const nlohmann::json ref = reference_json(c.model);
  auto tensors = SafetensorsFile::open(test::fixture(c.model + "/reference.safetensors"));
  websd_model* model = nullptr;
  ASSERT_EQ(websd_model_open(test::fixture(c.model + "/model").c_str(), nullptr, &model), WEBSD_OK)
      << websd_last_error();
  websd_txt2img_params p = websd_txt2img_params_default();
  const std::string prompt = ref["prompt"], negative = ref["negative_prompt"].is_null() ? "" : ref["negative_prompt"];
  p.prompt = prompt.c_str();
  p.negative_prompt = negative.c_str();
  p.width = ref["width"];
  p.height = ref["height"];
  p.steps = ref["steps"];
  p.guidance = ref["guidance_scale"];
  p.seed = ref["seed"];
  p.scheduler = c.scheduler.c_str();
  websd_image img{};
  ASSERT_EQ(websd_txt2img(model, &p, &img, 1), WEBSD_OK) << websd_last_error();
  expect_image_matches(img, tensors.get(c.scheduler + "/image_u8"), c.model + " " + c.scheduler);
  websd_image_free(&img);
  websd_model_free(model);
}

std::vector<RunCase> all_runs() {
  std::vector<RunCase> runs;
  for (const char* m : {"tiny-sd1", "tiny-sd2"})
    for (const char* s : {"pndm", "ddim", "euler", "euler_a", "euler_karras", "dpmpp_2m", "dpmpp_2m_karras", "heun",
                          "unipc", "lcm"})
      runs.push_back({m, s});
  return runs;
}

INSTANTIATE_TEST_SUITE_P(Fixtures, Txt2ImgParity, testing::ValuesIn(all_runs()), [](const auto& info) {
  std::string s = info.param.model + "_" + info.param.scheduler;
  for (char& ch : s)
    if (ch == '-') ch = '_';
  return s;
});

int cancel_at_step_two(void*, int, int step, int) { return step < 2; }

TEST(CApi, CancelStopsBetweenSteps) {
  websd_model* model = nullptr;
  ASSERT_EQ(websd_model_open(test::fixture("tiny-sd1/model").c_str(), nullptr, &model), WEBSD_OK);
  websd_txt2img_params p = websd_txt2img_params_default();
  p.prompt = "a cat";
  p.width = p.height = 64;
  p.steps = 5;
  p.progress = cancel_at_step_two;
  websd_image img{};
  EXPECT_EQ(websd_txt2img(model, &p, &img, 1), WEBSD_ERROR_CANCELLED);
  EXPECT_EQ(img.data, nullptr);
  // The model stays usable after a cancelled run.
  p.progress = nullptr;
  p.steps = 2;
  ASSERT_EQ(websd_txt2img(model, &p, &img, 1), WEBSD_OK) << websd_last_error();
  EXPECT_EQ(img.width, 64);
  websd_image_free(&img);
  websd_model_free(model);
}

TEST(CApi, PreviewsArrive) {
  websd_model* model = nullptr;
  ASSERT_EQ(websd_model_open(test::fixture("tiny-sd1/model").c_str(), nullptr, &model), WEBSD_OK);
  websd_txt2img_params p = websd_txt2img_params_default();
  p.prompt = "a cat";
  p.width = 64;
  p.height = 48;
  p.steps = 4;
  p.preview_every = 2;
  int previews = 0;
  p.preview_user = &previews;
  p.preview = [](void* user, int, int, const uint8_t*, int w, int h) {
    EXPECT_EQ(w, 8);
    EXPECT_EQ(h, 6);
    ++*static_cast<int*>(user);
  };
  websd_image imgs[2]{};
  ASSERT_EQ(websd_txt2img(model, &p, imgs, 2), WEBSD_OK) << websd_last_error();
  EXPECT_EQ(previews, 4);  // two images, previews at steps 2 and 4
  EXPECT_EQ(imgs[1].height, 48);
  websd_image_free(&imgs[0]);
  websd_image_free(&imgs[1]);
  websd_model_free(model);
}

TEST(CApi, BadInputIsAStatusAndAMessage) {
  websd_model* model = nullptr;
  EXPECT_EQ(websd_model_open("/nonexistent/model", nullptr, &model), WEBSD_ERROR_NOT_FOUND);
  EXPECT_NE(std::string(websd_last_error()).find("/nonexistent/model"), std::string::npos) << websd_last_error();
  EXPECT_EQ(model, nullptr);
  EXPECT_EQ(websd_model_open(nullptr, nullptr, &model), WEBSD_ERROR_INVALID_ARGUMENT);

  ASSERT_EQ(websd_model_open(test::fixture("tiny-sd1/model").c_str(), nullptr, &model), WEBSD_OK);
  websd_txt2img_params p = websd_txt2img_params_default();
  websd_image img{};
  p.width = 60;
  p.height = 64;
  EXPECT_EQ(websd_txt2img(model, &p, &img, 1), WEBSD_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(websd_last_error()).find("multiples of 8"), std::string::npos) << websd_last_error();
  p.width = 64;
  p.scheduler = "karras_magic";
  EXPECT_EQ(websd_txt2img(model, &p, &img, 1), WEBSD_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(websd_last_error()).find("euler_a"), std::string::npos) << websd_last_error();
  p.scheduler = nullptr;
  p.steps = 0;
  EXPECT_EQ(websd_txt2img(model, &p, &img, 1), WEBSD_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(websd_txt2img(model, &p, &img, 0), WEBSD_ERROR_INVALID_ARGUMENT);
  EXPECT_STREQ(websd_status_string(WEBSD_ERROR_CANCELLED), "cancelled");
  websd_model_free(model);
}

// Absurd requests are refused at once with the limit in the message (they used to run for minutes).
TEST(CApi, LimitsAreRefusedUpFrontWithTheLimit) {
  websd_model* model = nullptr;
  ASSERT_EQ(websd_model_open(test::fixture("tiny-sd1/model").c_str(), nullptr, &model), WEBSD_OK);
  websd_image img{};
  const auto refused = [&](websd_txt2img_params p, int count, const char* needle) {
    const auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(websd_txt2img(model, &p, &img, count), WEBSD_ERROR_INVALID_ARGUMENT) << needle;
    EXPECT_NE(std::string(websd_last_error()).find(needle), std::string::npos) << websd_last_error();
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1)) << needle;
  };
  websd_txt2img_params p = websd_txt2img_params_default();
  p.width = 100000;
  p.height = 64;
  refused(p, 1, "at most 4096 pixels on a side");
  p.width = p.height = 4096;
  refused(p, 1, "2048x2048");
  p = websd_txt2img_params_default();
  p.steps = 1001;
  refused(p, 1, "between 1 and 1000");
  p.steps = 2;
  refused(p, 1001, "between 1 and 1000");
  const std::string long_prompt(70000, 'a');
  p.prompt = long_prompt.c_str();
  refused(p, 1, "at most 65536");
  websd_model_free(model);
}

// A cancel sent just before a run starts stops that run; the next one runs.
// websd_prompt_info: token counts per chunk as the encoder gets them, and the weights' byte ranges.
TEST(CApi, PromptInfoCountsTokensAndPlacesWeights) {
  websd_model* model = nullptr;
  ASSERT_EQ(websd_model_open(test::fixture("tiny-sd1/model").c_str(), nullptr, &model), WEBSD_OK);
  const auto info = [&](const std::string& prompt, int literal) {
    char* json = nullptr;
    EXPECT_EQ(websd_prompt_info(model, prompt.c_str(), literal, &json), WEBSD_OK) << websd_last_error();
    nlohmann::json j = nlohmann::json::parse(json ? json : "null");
    websd_string_free(json);
    return j;
  };
  nlohmann::json j = info("a (red:1.5) cat", 0);
  EXPECT_EQ(j["tokens"], nlohmann::json::array({3}));
  EXPECT_EQ(j["chunk_size"], 75);
  EXPECT_EQ(j["max_chunks"], 16);
  ASSERT_EQ(j["spans"].size(), 3u) << j.dump();
  EXPECT_EQ(j["spans"][1], nlohmann::json::array({3, 6, 1.5, 0}));  // "red"
  // 80 one-token words: 75 in the first chunk, 5 in the second; read literally, one count of 80.
  std::string words;
  for (int i = 0; i < 80; ++i) words += i ? " cat" : "cat";
  EXPECT_EQ(info(words, 0)["tokens"], nlohmann::json::array({75, 5}));
  EXPECT_EQ(info(words + " BREAK dog", 0)["tokens"], nlohmann::json::array({75, 5, 1}));
  j = info(words + " (x)", 1);
  EXPECT_EQ(j["tokens"], nlohmann::json::array({83}));
  EXPECT_EQ(j["spans"].size(), 1u);
  EXPECT_EQ(info("", 0)["tokens"], nlohmann::json::array({0}));
  char* json = nullptr;
  EXPECT_EQ(websd_prompt_info(model, nullptr, 0, &json), WEBSD_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(websd_prompt_info(model, std::string(70000, 'a').c_str(), 0, &json), WEBSD_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(websd_last_error()).find("65536"), std::string::npos) << websd_last_error();
  websd_model_free(model);
}

TEST(CApi, CancelBeforeTheRunIsNotLost) {
  websd_model* model = nullptr;
  ASSERT_EQ(websd_model_open(test::fixture("tiny-sd1/model").c_str(), nullptr, &model), WEBSD_OK);
  websd_txt2img_params p = websd_txt2img_params_default();
  p.prompt = "a cat";
  p.steps = 2;
  websd_image img{};
  websd_cancel(model);
  EXPECT_EQ(websd_txt2img(model, &p, &img, 1), WEBSD_ERROR_CANCELLED);
  EXPECT_EQ(img.data, nullptr);
  ASSERT_EQ(websd_txt2img(model, &p, &img, 1), WEBSD_OK) << websd_last_error();
  websd_image_free(&img);
  websd_model_free(model);
}

// Nothing accumulates over open / generate (with a LoRA, an embedding and a cancelled run) / free cycles: the
// heap in use (glibc's mallinfo2, exact where RSS is not) after the fifth cycle is within 1 MiB of the second's
// (the first fills process-wide caches: OpenBLAS buffers, the thread pool).
TEST(CApi, RepeatedCyclesDoNotGrowTheHeap) {
  const std::string lora = test::fixture("tiny-sd1-creative/lora_kohya.safetensors");
  const std::string embedding = test::fixture("tiny-sd1-creative/tiny-style.safetensors");
  std::vector<size_t> in_use;
  for (int cycle = 0; cycle < 5; ++cycle) {
    websd_model* model = nullptr;
    ASSERT_EQ(websd_model_open(test::fixture("tiny-sd1/model").c_str(), nullptr, &model), WEBSD_OK);
    websd_txt2img_params p = websd_txt2img_params_default();
    p.prompt = "a <tiny-style> cat";
    p.steps = 2;
    p.width = p.height = 64;
    const websd_lora l{lora.c_str(), 0.8f};
    const websd_embedding e{embedding.c_str(), "<tiny-style>"};
    p.loras = &l;
    p.lora_count = 1;
    p.embeddings = &e;
    p.embedding_count = 1;
    websd_image img{};
    ASSERT_EQ(websd_txt2img(model, &p, &img, 1), WEBSD_OK) << websd_last_error();
    websd_image_free(&img);
    p.lora_mode = "runtime";
    websd_cancel(model);
    EXPECT_EQ(websd_txt2img(model, &p, &img, 1), WEBSD_ERROR_CANCELLED);
    ASSERT_EQ(websd_txt2img(model, &p, &img, 1), WEBSD_OK) << websd_last_error();
    websd_image_free(&img);
    websd_model_free(model);
    const struct mallinfo2 m = mallinfo2();
    in_use.push_back(m.uordblks + m.hblkhd);  // small blocks in every arena, and mmapped ones
  }
  std::printf("  heap in use after each cycle:");
  for (size_t b : in_use) std::printf(" %.2f MiB", double(b) / (1 << 20));
  std::printf("\n");
  EXPECT_LE(double(in_use[4]), double(in_use[1]) + double(1 << 20));
}

// img2img and inpainting against diffusers' StableDiffusionImg2ImgPipeline and StableDiffusionInpaintPipeline
// (image_runs.h: tiny-sd1 strength 0.6 of 10 steps, seed 99; tiny-inpaint's 9-channel UNet, strength 1, 6 steps,
// seed 5, the fixture's mask): the latents after every iteration run (1e-3), and the final image within 2 levels.
TEST(ImageRuns, MatchDiffusers) {
  std::string open_model;
  std::unique_ptr<StableDiffusion> sd;
  for (const test::ImageRun& r : test::kImageRuns) {
    const std::string what = std::string(r.model) + " " + r.run;
    SCOPED_TRACE(what);
    const std::string stem = test::fixture(std::string(r.model) + "/" + r.reference);
    const nlohmann::json args = Config::load(stem + ".json").json()["runs"][r.run]["args"];
    const SafetensorsFile tensors = SafetensorsFile::open(stem + ".safetensors");
    if (open_model != r.model) {
      open_model = r.model;
      sd = StableDiffusion::open(test::fixture(open_model + "/model"), make_cpu_backend());
    }
    const TensorView& steps = tensors.get(std::string(r.run) + "/latents_per_step");
    const std::vector<float> want = steps.to_f32();
    const size_t n = want.size() / size_t(steps.shape[0]);
    int seen = 0;
    float worst = 0;
    GenerateCallbacks cb;
    cb.on_latents = [&](int, int step, const std::vector<float>& got) {
      seen = step;
      worst = std::max(worst, test::max_abs_diff(got, {want.begin() + long(n) * (step - 1),
                                                       want.begin() + long(n) * step}));
    };
    const auto images = sd->generate(test::image_run_params(r, args, tensors), cb);
    EXPECT_EQ(size_t(seen) * n, want.size()) << "iterations run";
    std::printf("  %-36s latents max abs error %.3g\n", what.c_str(), worst);
    EXPECT_LE(worst, 1e-3f);
    const TensorView& want_img = tensors.get(std::string(r.run) + "/image_u8");
    test::expect_image_matches(images.at(0).pixels.data(), images[0].pixels.size(),
                               static_cast<const uint8_t*>(want_img.data), size_t(want_img.shape.numel()), what);
  }
}

// An inpainting model is told by its UNet and needs an image and a mask.
TEST(Inpainting, NeedsAnImageAndAMask) {
  auto sd = StableDiffusion::open(test::fixture("tiny-inpaint/model"), make_cpu_backend());
  EXPECT_TRUE(sd->info().inpainting);
  EXPECT_EQ(sd->info().family, "sd1-inpaint");
  GenerateParams p;
  p.prompt = "a cat";
  try {
    sd->generate(p);
    ADD_FAILURE() << "an inpainting model ran without an image";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("needs the image and a mask"), std::string::npos) << e.what();
  }
}

// A regular (4-channel) model with a mask, as diffusers' inpainting pipeline runs one: after every step the kept
// region's latents are the init image's, noised to the next step's level, and after the last they are exactly the
// init image's latents (sampled with the image's generator), so the kept region decodes as the VAE's reconstruction
// of the init image; the masked region is painted. From pure noise (strength 1, the default) and part-way.
TEST(Inpainting, ARegularModelKeepsTheUnmaskedLatents) {
  std::shared_ptr<Backend> cpu = make_cpu_backend();
  auto sd = StableDiffusion::open(test::fixture("tiny-sd1/model"), cpu);
  GenerateParams p = test::regular_inpaint_params();  // the right half repainted

  auto folder = PipelineFolder::open(test::fixture("tiny-sd1/model"));
  const VaeConfig vae = VaeConfig::from(folder.config("vae"));
  for (float strength : {0.0f, 0.5f}) {
    p.strength = strength;
    std::vector<float> last;
    GenerateCallbacks cb;
    cb.on_latents = [&](int, int, const std::vector<float>& x) { last = x; };
    sd->generate(p, cb);
    TorchGenerator gen(p.seed);
    std::vector<float> image = encode_image(*cpu, vae, *folder.weights("vae"), p.init_image).sample(gen);
    for (float& v : image) v *= vae.scaling_factor;
    ASSERT_EQ(last.size(), image.size());
    size_t kept_equal = 0, painted_equal = 0;
    for (size_t k = 0; k < last.size(); ++k) ((k % 8) < 4 ? kept_equal : painted_equal) += last[k] == image[k];
    EXPECT_EQ(kept_equal, last.size() / 2) << "strength " << strength;
    EXPECT_EQ(painted_equal, 0u) << "strength " << strength;
  }
}

// The C API takes 8-bit init images: the same image as the engine's [0, 1] floats (value / 255) gives the same
// picture; channels other than 3 are refused.
TEST(CApi, Img2ImgTakesAnRgbImage) {
  websd_model* model = nullptr;
  ASSERT_EQ(websd_model_open(test::fixture("tiny-sd1/model").c_str(), nullptr, &model), WEBSD_OK);
  std::vector<uint8_t> rgb(64 * 64 * 3);
  for (size_t i = 0; i < rgb.size(); ++i) rgb[i] = uint8_t((i * 7) % 256);
  websd_image init{64, 64, 3, rgb.data()};
  websd_txt2img_params p = websd_txt2img_params_default();
  EXPECT_FLOAT_EQ(p.strength, 0.0f);  // the pipeline's default (0.8 here)
  p.prompt = "a cat";
  p.steps = 5;
  p.seed = 11;
  p.init_image = &init;
  p.strength = 0.6f;
  websd_image img{};
  ASSERT_EQ(websd_txt2img(model, &p, &img, 1), WEBSD_OK) << websd_last_error();
  auto sd = StableDiffusion::open(test::fixture("tiny-sd1/model"), make_cpu_backend());
  GenerateParams g;
  g.prompt = "a cat";
  g.steps = 5;
  g.seed = 11;
  g.strength = 0.6f;
  g.init_image = to_float(RgbImage{64, 64, rgb});
  EXPECT_EQ(std::vector<uint8_t>(img.data, img.data + 64 * 64 * 3), sd->generate(g).at(0).pixels);
  websd_image_free(&img);
  init.channels = 4;
  EXPECT_EQ(websd_txt2img(model, &p, &img, 1), WEBSD_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(websd_last_error()).find("channels 3"), std::string::npos) << websd_last_error();
  websd_model_free(model);
}

// img2img's own bad input: another size than asked, a strength outside (0, 1] or one that leaves no step.
TEST(Img2Img, BadInputIsRefused) {
  auto sd = StableDiffusion::open(test::fixture("tiny-sd1/model"), make_cpu_backend());
  GenerateParams p;
  p.prompt = "a cat";
  p.steps = 4;
  p.init_image = {64, 64, std::vector<float>(64 * 64 * 3, 0.5f)};
  const auto refused = [&](const char* needle) {
    try {
      sd->generate(p);
      ADD_FAILURE() << needle;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  p.width = p.height = 128;
  refused("the init image is 64x64 but the image asked for is 128x128");
  p.width = p.height = 0;
  p.strength = 1.5f;
  refused("strength must be in (0, 1]");
  p.strength = 0.2f;
  refused("leaves no step to run");
  p.strength = 1.0f;
  EXPECT_EQ(sd->generate(p).at(0).width, 64);  // the size defaults to the init image's
}

// Two models open in one process, generating at the same time on their own threads, draw exactly what each draws
// alone (the BLAS thread count they share is held, not flipped under each other).
TEST(Pipeline, TwoModelsGenerateAtOnce) {
  const auto draw = [](const std::string& model, uint64_t seed) {
    auto sd = StableDiffusion::open(test::fixture(model + "/model"), make_cpu_backend({.threads = 2}));
    GenerateParams p;
    p.prompt = "a cat";
    p.steps = 3;
    p.seed = seed;
    return sd->generate(p).at(0).pixels;
  };
  const auto alone1 = draw("tiny-sd1", 1), alone2 = draw("tiny-sd2", 2);
  for (int round = 0; round < 3; ++round) {
    std::vector<uint8_t> a, b;
    std::thread t1([&] { a = draw("tiny-sd1", 1); }), t2([&] { b = draw("tiny-sd2", 2); });
    t1.join();
    t2.join();
    EXPECT_EQ(a, alone1) << "round " << round;
    EXPECT_EQ(b, alone2) << "round " << round;
  }
}

// Two generations asked of one model at the same time (two threads of a C API user) run one after the other:
// each draws what it draws alone, with its own LoRA and embedding choices, never a mix of the two.
TEST(Pipeline, TwoGenerationsOfOneModelAreQueued) {
  auto sd = StableDiffusion::open(test::fixture("tiny-sd1/model"), make_cpu_backend({.threads = 1}));
  const auto params = [](uint64_t seed, bool lora) {
    GenerateParams p;
    p.prompt = "a cat";
    p.steps = 4;
    p.seed = seed;
    p.width = p.height = 64;
    if (lora) p.loras = {{test::fixture("tiny-sd1-creative/lora_kohya.safetensors"), 0.8f, 0.8f}};
    return p;
  };
  const auto alone1 = sd->generate(params(1, false)).at(0).pixels;
  const auto alone2 = sd->generate(params(2, true)).at(0).pixels;
  ASSERT_NE(alone1, alone2);
  for (int round = 0; round < 3; ++round) {
    std::vector<uint8_t> a, b;
    std::thread t1([&] { a = sd->generate(params(1, false)).at(0).pixels; });
    std::thread t2([&] { b = sd->generate(params(2, true)).at(0).pixels; });
    t1.join();
    t2.join();
    EXPECT_EQ(a, alone1) << "round " << round;
    EXPECT_EQ(b, alone2) << "round " << round;
  }
}

// A backend that can hold less than the UNet's planned arena refuses the generation before any work.
TEST(Pipeline, WorkingMemoryBeyondTheBackendIsRefused) {
  class Small final : public Backend {
   public:
    std::string name() const override { return "small"; }
    std::unique_ptr<Executable> compile(std::shared_ptr<const Graph> g) override { return cpu_->compile(std::move(g)); }
    uint64_t max_arena_bytes() const override { return 1 << 20; }

   private:
    std::unique_ptr<Backend> cpu_ = make_cpu_backend();
  };
  auto sd = StableDiffusion::open(test::fixture("tiny-sd1/model"), std::make_shared<Small>());
  GenerateParams p;
  p.prompt = "a cat";
  p.width = p.height = 512;
  p.steps = 1;
  try {
    sd->generate(p);
    ADD_FAILURE() << "expected an out-of-memory error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kOutOfMemory);
    EXPECT_NE(std::string(e.what()).find("MiB of working memory"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace websd
