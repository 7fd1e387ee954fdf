// Rung 5 of the correctness ladder: whole text-to-image runs against diffusers' final images, for every scheduler
// on tiny-sd1 (epsilon) and tiny-sd2 (v-prediction), through the C API the apps use.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <thread>
#include <nlohmann/json.hpp>

#include "backends/cpu/cpu_backend.h"
#include "core/error.h"
#include "fixtures.h"
#include "pipeline/stable_diffusion.h"
#include "io/config.h"
#include "image_parity.h"
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
