// Textual inversion (adapters/embedding.h) against diffusers' load_textual_inversion on tiny-sd1 (fixtures
// README, tiny-sd1-creative): the text encoder's output with the embedding (1e-4), the whole run (within 2
// levels), the embedding folder, and files that are not embeddings of this model.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>

#include "adapters/embedding.h"
#include "backends/cpu/cpu_backend.h"
#include "core/error.h"
#include "embedding_runs.h"
#include "fixtures.h"
#include "image_parity.h"
#include "io/config.h"
#include "io/safetensors.h"
#include "io/safetensors_writer.h"
#include "pipeline/stable_diffusion.h"
#include "websd/websd.h"

namespace websd {
namespace {

std::string creative(const std::string& rel) { return test::fixture("tiny-sd1-creative/" + rel); }

nlohmann::json run_info() { return Config::load(creative("reference.json")).json()["runs"][test::kEmbeddingRun]; }

TEST(Embedding, TextEncoderMatchesDiffusers) {
  const SafetensorsFile ref = SafetensorsFile::open(creative("reference.safetensors"));
  auto backend = make_cpu_backend();
  const float err = test::max_abs_diff(test::embedding_text_cond(*backend, test::fixtures_dir()),
                                       ref.get("ti/text_cond").to_f32());
  std::printf("  ti/text_cond max abs error %.3g (tolerance 1e-4)\n", err);
  EXPECT_LE(err, 1e-4f);
}

void expect_image(const RgbImage& img, const TensorView& want, const std::string& what) {
  test::expect_image_matches(img.pixels.data(), img.pixels.size(), static_cast<const uint8_t*>(want.data),
                             size_t(want.shape.numel()), what);
}

// The run, then the same embedding found in a folder by its word, then none (the plain model's text again).
TEST(Embedding, RunMatchesDiffusersAndTheFolderFindsIt) {
  const SafetensorsFile ref = SafetensorsFile::open(creative("reference.safetensors"));
  auto sd = StableDiffusion::open(test::fixture("tiny-sd1/model"), make_cpu_backend());
  GenerateParams p = test::embedding_run_params(run_info(), creative(""));
  GenerateParams plain = p;
  plain.embeddings.clear();
  const std::vector<uint8_t> before = sd->generate(plain).at(0).pixels;
  expect_image(sd->generate(p).at(0), ref.get("ti_dpmpp_2m/image_u8"), "ti_dpmpp_2m");

  const std::filesystem::path dir = std::filesystem::temp_directory_path() / "websd-embeddings";
  std::filesystem::create_directories(dir);
  std::filesystem::copy_file(creative("tiny-style.safetensors"), dir / "<tiny-style>.safetensors",
                             std::filesystem::copy_options::overwrite_existing);
  p.embeddings.clear();
  p.embedding_dir = dir.string();
  expect_image(sd->generate(p).at(0), ref.get("ti_dpmpp_2m/image_u8"), "ti_dpmpp_2m from the folder");
  EXPECT_EQ(sd->generate(plain).at(0).pixels, before) << "no embedding after one: the model's own text encoder";
  std::filesystem::remove_all(dir);
}

TEST(Embedding, FolderMatchesWholeWordsOnly) {
  const std::filesystem::path dir = std::filesystem::temp_directory_path() / "websd-embedding-words";
  std::filesystem::create_directories(dir);
  for (const char* name : {"art", "bad-hands", "notes"})
    std::filesystem::copy_file(creative("tiny-style.safetensors"), dir / (std::string(name) + ".safetensors"),
                               std::filesystem::copy_options::overwrite_existing);
  std::filesystem::copy_file(creative("tiny-style.safetensors"), dir / "ignored.txt",
                             std::filesystem::copy_options::overwrite_existing);
  const auto found = find_embeddings(dir.string(), {"a party, concept art", "Bad-Hands, ignored"});
  ASSERT_EQ(found.size(), 2u);  // in any case, as the web UI's tokenizer lowercases the prompt
  EXPECT_EQ(found[0].word, "art");
  EXPECT_EQ(found[1].word, "bad-hands");
  EXPECT_TRUE(find_embeddings("", {"art"}).empty());
  EXPECT_THROW(find_embeddings((dir / "missing").string(), {"art"}), Error);
  std::filesystem::remove_all(dir);
}

TEST(Embedding, WordsAreSpelledOutAndArgumentsParse) {
  const auto model = open_model_source(test::fixture("tiny-sd1/model"));
  const std::vector<EmbeddingUse> uses{{EmbeddingFile::open(creative("tiny-style.safetensors")), "<s>"}};
  const ClipTextComponent text = with_embeddings(ClipTextComponent::load(*model, "text_encoder", "tokenizer"), uses);
  EXPECT_EQ(text.cfg.vocab_size, 49410);
  EXPECT_EQ(expand_embedding_words("a <s> and <s>", uses, text), "a <s> <s>_1 and <s> <s>_1");
  const std::vector<EmbeddingUse> named{{EmbeddingFile::open(creative("tiny-style.safetensors")), "TinyStyle"}};
  const ClipTextComponent text2 = with_embeddings(ClipTextComponent::load(*model, "text_encoder", "tokenizer"), named);
  EXPECT_EQ(expand_embedding_words("TINYSTYLE, tinystyle", named, text2), "TinyStyle TinyStyle_1, TinyStyle TinyStyle_1");
  EXPECT_EQ(text.tokenizer->encode("x <s> <s>_1"), (std::vector<int32_t>{text.tokenizer->encode("x")[0], 49408, 49409}));
  EXPECT_EQ(parse_embedding_argument("dir/file.safetensors:<w>").word, "<w>");
  EXPECT_EQ(parse_embedding_argument("dir/file.safetensors").path, "dir/file.safetensors");
  EXPECT_EQ(embedding_word(parse_embedding_argument("C:\\emb\\easy.safetensors")), "easy");
}

// Through the C API, as apps call it: the embedding and its word as websd_embedding.
TEST(Embedding, CApi) {
  const nlohmann::json run = run_info();
  websd_model* model = nullptr;
  ASSERT_EQ(websd_model_open(test::fixture("tiny-sd1/model").c_str(), nullptr, &model), WEBSD_OK)
      << websd_last_error();
  const std::string prompt = run["args"]["prompt"], negative = run["args"]["negative_prompt"];
  const std::string file = creative("tiny-style.safetensors"), word = run["embedding"]["token"];
  const websd_embedding embedding{file.c_str(), word.c_str()};
  websd_txt2img_params p = websd_txt2img_params_default();
  p.prompt = prompt.c_str();
  p.negative_prompt = negative.c_str();
  p.width = p.height = 64;
  p.steps = 6;
  p.seed = test::kEmbeddingSeed;
  p.scheduler = "dpmpp_2m";
  p.scheduler_config = R"({"timestep_spacing": "leading"})";
  p.embeddings = &embedding;
  p.embedding_count = 1;
  websd_image img{};
  ASSERT_EQ(websd_txt2img(model, &p, &img, 1), WEBSD_OK) << websd_last_error();
  const SafetensorsFile ref = SafetensorsFile::open(creative("reference.safetensors"));
  const TensorView& want = ref.get("ti_dpmpp_2m/image_u8");
  test::expect_image_matches(img.data, size_t(img.width * img.height * 3), static_cast<const uint8_t*>(want.data),
                             size_t(want.shape.numel()), "C API ti_dpmpp_2m");
  websd_image_free(&img);
  p.embeddings = nullptr;
  EXPECT_EQ(websd_txt2img(model, &p, &img, 1), WEBSD_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(websd_last_error()).find("embedding_count"), std::string::npos) << websd_last_error();
  websd_model_free(model);
}

void expect_refused(const std::function<void()>& f, ErrorCode code, const std::string& says);

// SDXL (tiny-sdxl): an SDXL file holds one table per encoder (clip_l, clip_g). A word whose vectors are the
// token embeddings of "cat" in each encoder draws exactly what "cat" draws; a file without clip_g is refused.
TEST(Embedding, SdxlTakesOneTablePerEncoder) {
  const std::string model = test::fixture("tiny-sdxl/model");
  const auto source = open_model_source(model);
  std::vector<std::vector<float>> rows;
  for (const auto& [encoder, tokenizer] : {std::pair{"text_encoder", "tokenizer"}, {"text_encoder_2", "tokenizer_2"}}) {
    const ClipTextComponent c = ClipTextComponent::load(*source, encoder, tokenizer);
    const int32_t cat = c.tokenizer->token_to_id("cat</w>");
    ASSERT_GE(cat, 0);
    const int64_t D = c.cfg.hidden_size;
    const WeightData table = resident(c.weights->get("embeddings.token_embedding.weight", Shape{c.cfg.vocab_size, D}));
    rows.emplace_back(size_t(D));
    expand_weight(table, size_t(cat * D), size_t(D), rows.back().data());
  }
  const std::filesystem::path dir = std::filesystem::temp_directory_path() / "websd-embedding-sdxl";
  std::filesystem::create_directories(dir);
  const std::string both = (dir / "both.safetensors").string(), clip_l = (dir / "clip_l.safetensors").string();
  const Shape one_l{1, int64_t(rows[0].size())}, one_g{1, int64_t(rows[1].size())};
  write_safetensors(both, {{"clip_l", DType::kF32, one_l, rows[0].data()}, {"clip_g", DType::kF32, one_g, rows[1].data()}});
  write_safetensors(clip_l, {{"clip_l", DType::kF32, one_l, rows[0].data()}});

  auto sd = StableDiffusion::open(model, make_cpu_backend());
  GenerateParams p;
  p.prompt = "a photo of a cat";
  p.negative_prompt = "blurry";
  p.steps = 2;
  p.seed = 11;
  const std::vector<uint8_t> cat = sd->generate(p).at(0).pixels;
  p.prompt = "a photo of a <w>";
  EXPECT_NE(sd->generate(p).at(0).pixels, cat) << "without the embedding <w> is other tokens";
  p.embeddings = {{both, "<w>"}};
  EXPECT_EQ(sd->generate(p).at(0).pixels, cat) << "the word's vectors are cat's: the same image";
  p.embeddings = {{clip_l, "<w>"}};
  expect_refused([&] { sd->generate(p); }, ErrorCode::kInvalidArgument, "text_encoder_2");
  std::filesystem::remove_all(dir);
}

void expect_refused(const std::function<void()>& f, ErrorCode code, const std::string& says) {
  try {
    f();
    ADD_FAILURE() << "accepted; expected an error saying " << says;
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    EXPECT_NE(std::string(e.what()).find(says), std::string::npos) << e.what();
  }
}

TEST(Embedding, FilesThatAreNotEmbeddingsOfThisModelAreRefused) {
  const auto model = open_model_source(test::fixture("tiny-sd1/model"));
  const ClipTextComponent text = ClipTextComponent::load(*model, "text_encoder", "tokenizer");
  const std::filesystem::path dir = std::filesystem::temp_directory_path() / "websd-embedding-bad";
  std::filesystem::create_directories(dir);
  const std::vector<float> halves(4096, 0.5f);
  const auto write = [&](const std::string& name, const std::vector<std::pair<std::string, Shape>>& tensors) {
    std::vector<TensorToWrite> out;
    for (const auto& [key, shape] : tensors) out.push_back({key, DType::kF32, shape, halves.data()});
    write_safetensors((dir / name).string(), out);
    return (dir / name).string();
  };
  expect_refused([&] { EmbeddingFile::open((dir / "e.pt").string()); }, ErrorCode::kUnsupported, "pickled");
  const std::string two = write("two.safetensors", {{"a", Shape{1, 32}}, {"b", Shape{1, 32}}});
  expect_refused([&] { EmbeddingFile::open(two); }, ErrorCode::kCorruptFile, "not a textual inversion");
  const std::string wide = write("wide.safetensors", {{"emb_params", Shape{2, 768}}});
  expect_refused([&] { with_embeddings(text, {{EmbeddingFile::open(wide), "w"}}); }, ErrorCode::kInvalidArgument,
                 "no vectors 32 wide");
  const std::string ok = write("ok.safetensors", {{"emb_params", Shape{1, 32}}});
  expect_refused([&] { with_embeddings(text, {{EmbeddingFile::open(ok), "<|endoftext|>"}}); },
                 ErrorCode::kInvalidArgument, "already a token");
  expect_refused([&] { with_embeddings(text, {{EmbeddingFile::open(ok), "two words"}}); },
                 ErrorCode::kInvalidArgument, "one word");
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace websd
