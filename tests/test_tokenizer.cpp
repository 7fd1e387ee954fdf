// ClipTokenizer against transformers' CLIPTokenizer (fixtures/clip-tokenizer/cases.json and the pipelines'
// prompt_ids / negative_ids).
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/error.h"
#include "fixtures.h"
#include "io/config.h"
#include "io/safetensors.h"
#include "text/clip_tokenizer.h"

namespace websd {
namespace {

using nlohmann::json;

// The fixtures' JSON comes from Python (with -Infinity and the like); Config reads that dialect.
json load_json(const std::string& path) { return Config::load(path).json(); }

const ClipTokenizer& clip_vocab_merges() {
  static const ClipTokenizer tok = ClipTokenizer::from_vocab_merges(
      test::fixture("clip-tokenizer/vocab.json"), test::fixture("clip-tokenizer/merges.txt"));
  return tok;
}

void check_cases(const ClipTokenizer& tok, const char* label) {
  json cases = load_json(test::fixture("clip-tokenizer/cases.json"))["cases"];
  ASSERT_FALSE(cases.empty());
  int passed = 0;
  for (const json& c : cases) {
    std::string text = c["text"];
    auto ids = tok.encode(text);
    auto ids77 = tok.encode_padded(text);
    EXPECT_EQ(ids, c["ids"].get<std::vector<int32_t>>()) << label << " text: " << text;
    EXPECT_EQ(ids77, c["ids77"].get<std::vector<int32_t>>()) << label << " text: " << text;
    passed += ids == c["ids"].get<std::vector<int32_t>>() && ids77 == c["ids77"].get<std::vector<int32_t>>();
  }
  std::printf("%s: %d/%zu cases match\n", label, passed, cases.size());
}

TEST(ClipTokenizer, CasesFromVocabAndMerges) {
  const ClipTokenizer& tok = clip_vocab_merges();
  EXPECT_EQ(tok.vocab_size(), 49408u);
  EXPECT_EQ(tok.bos_id(), 49406);
  EXPECT_EQ(tok.eos_id(), 49407);
  EXPECT_EQ(tok.pad_id(), 49407);
  check_cases(tok, "vocab.json+merges.txt");
}

TEST(ClipTokenizer, CasesFromTokenizerJson) {
  // tiny-sd2 ships the same vocabulary as a single tokenizer.json.
  check_cases(ClipTokenizer::from_tokenizer_json(test::fixture("tiny-sd2/model/tokenizer/tokenizer.json")),
              "tokenizer.json");
}

std::vector<int32_t> reference_ids(const SafetensorsFile& ref, const std::string& name) {
  const TensorView& v = ref.get(name);
  EXPECT_EQ(v.dtype, DType::kI32) << name;
  EXPECT_EQ(v.shape, Shape({1, 77})) << name;
  const auto* p = static_cast<const int32_t*>(v.data);
  return std::vector<int32_t>(p, p + v.shape.numel());
}

void check_pipeline(const std::string& model) {
  ClipTokenizer tok = ClipTokenizer::from_folder(test::fixture(model + "/model/tokenizer"));
  json cfg = load_json(test::fixture(model + "/reference.json"));
  SafetensorsFile ref = SafetensorsFile::open(test::fixture(model + "/reference.safetensors"));
  EXPECT_EQ(tok.encode_padded(cfg["prompt"].get<std::string>()), reference_ids(ref, "prompt_ids")) << model;
  EXPECT_EQ(tok.encode_padded(cfg["negative_prompt"].get<std::string>()), reference_ids(ref, "negative_ids"))
      << model;
}

TEST(ClipTokenizer, Sd1FolderMatchesPipelineIds) {
  check_pipeline("tiny-sd1");
}  // vocab.json + merges.txt
TEST(ClipTokenizer, Sd2FolderMatchesPipelineIds) {
  check_pipeline("tiny-sd2");
}  // tokenizer.json

TEST(ClipTokenizer, PadTokenFromConfig) {
  // SDXL's second tokenizer pads with "!" (id 0), and "!" is then one of its special tokens.
  ClipTokenizer tok = ClipTokenizer::from_folder(test::fixture("tiny-sdxl/model/tokenizer_2"));
  EXPECT_EQ(tok.pad_id(), 0);
  std::vector<int32_t> ids = tok.encode_padded("a cat");
  ASSERT_EQ(ids.size(), 77u);
  EXPECT_EQ(ids[0], 49406);
  EXPECT_EQ(ids[3], 49407);
  EXPECT_EQ(ids[4], 0);
  EXPECT_EQ(ids[76], 0);
  // ... so every "!" in a prompt becomes id 0 (diffusers issue #4153 shows this output for transformers).
  std::vector<int32_t> bangs = tok.encode_padded("! !! !!!");
  EXPECT_EQ(std::vector<int32_t>(bangs.begin(), bangs.begin() + 9),
            (std::vector<int32_t>{49406, 0, 0, 0, 0, 0, 0, 49407, 0}));
  EXPECT_EQ(ClipTokenizer::from_folder(test::fixture("tiny-sdxl/model/tokenizer")).pad_id(), 49407);
}

TEST(ClipTokenizer, MissingTokenizerFilesIsAClearError) {
  auto dir = std::filesystem::temp_directory_path() / "websd_test_empty_tokenizer_dir";
  std::filesystem::create_directories(dir);
  try {
    ClipTokenizer::from_folder(dir.string());
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kNotFound);
    std::string msg = e.what();
    EXPECT_NE(msg.find(dir.string()), std::string::npos) << msg;
    EXPECT_NE(msg.find("tokenizer.json"), std::string::npos) << msg;
    EXPECT_NE(msg.find("vocab.json"), std::string::npos) << msg;
    EXPECT_NE(msg.find("merges.txt"), std::string::npos) << msg;
  }
  std::filesystem::remove_all(dir);
  EXPECT_THROW(ClipTokenizer::from_folder((dir / "does-not-exist").string()), Error);
}

TEST(ClipTokenizer, NormalisesLikeTheReference) {
  const ClipTokenizer& tok = clip_vocab_merges();
  // NFC: a decomposed e + combining acute tokenizes like the precomposed character.
  EXPECT_EQ(tok.encode("cafe\xCC\x81"), tok.encode("caf\xC3\xA9"));
  // Any Unicode whitespace separates words, like a space.
  EXPECT_EQ(tok.encode("red\xE3\x80\x80"
                       "car\xC2\xA0"
                       "now"),
            tok.encode("red car now"));
  // Lowercasing covers non-ASCII letters.
  EXPECT_EQ(tok.encode("\xC3\x89T\xC3\x89"), tok.encode("\xC3\xA9t\xC3\xA9"));
  // A special token written in the text is recognised; the text around it is tokenized on its own.
  EXPECT_EQ(tok.encode("a<|endoftext|>b"), (std::vector<int32_t>{320, 49407, 321}));
}

TEST(ClipTokenizer, InvalidUtf8NeverCrashes) {
  const ClipTokenizer& tok = clip_vocab_merges();
  std::string junk = "ok \xFF\xFE\xC3 \xED\xA0\x80 \xF4\x90\x80\x80 end \xE2\x82";
  std::vector<int32_t> ids = tok.encode(junk);
  EXPECT_FALSE(ids.empty());
  for (int32_t id : ids) EXPECT_TRUE(id >= 0 && id < 49408);
  std::string all_bytes;
  for (int b = 0; b < 256; ++b) all_bytes.push_back(char(b));
  EXPECT_EQ(tok.encode_padded(all_bytes).size(), 77u);
}

}  // namespace
}  // namespace websd
