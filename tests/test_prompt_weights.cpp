// Prompt weighting and chunking (text/prompt_weights.h, text/prompt_chunks.h) against the widely used web UI's
// rules: its parser's documented examples, and chunks built by hand from the real CLIP vocabulary.
#include <gtest/gtest.h>

#include <random>
#include <tuple>

#include "core/error.h"
#include "fixtures.h"
#include "text/clip_tokenizer.h"
#include "text/prompt_chunks.h"
#include "text/prompt_weights.h"

namespace websd {
namespace {

using Runs = std::vector<std::pair<std::string, double>>;

Runs runs(const std::string& prompt) {
  Runs out;
  for (const WeightedText& w : parse_prompt_weights(prompt))
    out.emplace_back(w.is_break ? "BREAK" : w.text, w.is_break ? -1 : w.weight);
  return out;
}

void expect_runs(const std::string& prompt, const Runs& want) {
  const Runs got = runs(prompt);
  ASSERT_EQ(got.size(), want.size()) << prompt;
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].first, want[i].first) << prompt << " run " << i;
    EXPECT_NEAR(got[i].second, want[i].second, 1e-12) << prompt << " run " << i;
  }
}

// The examples of the web UI's parse_prompt_attention documentation, with the weights its Python computes.
TEST(PromptWeights, TheWebUisExamples) {
  expect_runs("normal text", {{"normal text", 1.0}});
  expect_runs("an (important) word", {{"an ", 1.0}, {"important", 1.1}, {" word", 1.0}});
  expect_runs("(unbalanced", {{"unbalanced", 1.1}});
  expect_runs("\\(literal\\]", {{"(literal]", 1.0}});
  expect_runs("(unnecessary)(parens)", {{"unnecessaryparens", 1.1}});
  expect_runs("a (((house:1.3)) [on] a (hill:0.5), sun, (((sky))).", {{"a ", 1.0},
                                                                      {"house", 1.5730000000000004},
                                                                      {" ", 1.1},
                                                                      {"on", 1.0},
                                                                      {" a ", 1.1},
                                                                      {"hill", 0.55},
                                                                      {", sun, ", 1.1},
                                                                      {"sky", 1.4641000000000006},
                                                                      {".", 1.1}});
}

TEST(PromptWeights, WeightsBracketsAndEscapes) {
  expect_runs("", {{"", 1.0}});
  expect_runs("a [cat]", {{"a ", 1.0}, {"cat", 1 / 1.1}});
  expect_runs("[[cat]]", {{"cat", 1 / 1.1 / 1.1}});
  expect_runs("(cat: 1.5 )", {{"cat", 1.5}});
  expect_runs("(cat:+.5)", {{"cat", 0.5}});
  expect_runs("(cat:-1)", {{"cat", -1.0}});
  expect_runs("(cat:0)", {{"cat", 0.0}});
  expect_runs("((cat:1.2))", {{"cat", 1.2 * 1.1}});
  // A colon that is no weight is text, inside brackets or out; so is a weight with no bracket open.
  expect_runs("time: 5pm", {{"time: 5pm", 1.0}});
  expect_runs("(a:b)", {{"a:b", 1.1}});
  expect_runs("cat:1.2)", {{"cat:1.2)", 1.0}});
  // Where the web UI's float() would throw, the text stays text and the bracket still closes.
  expect_runs("(cat:1.2.3)", {{"cat:1.2.3", 1.1}});
  // Brackets that close nothing are text; escapes keep their character, a lone backslash goes.
  expect_runs("a) b] c", {{"a) b] c", 1.0}});
  expect_runs("\\\\ \\x", {{"\\ x", 1.0}});
  expect_runs("emoticon \\(^_^\\)", {{"emoticon (^_^)", 1.0}});
  expect_runs("[(a]", {{"a", 1.1 / 1.1}});
}

TEST(PromptWeights, Break) {
  expect_runs("a cat BREAK a dog", {{"a cat", 1.0}, {"BREAK", -1}, {"a dog", 1.0}});
  expect_runs("BREAK", {{"BREAK", -1}});
  expect_runs("a BREAK BREAK b", {{"a", 1.0}, {"BREAK", -1}, {"BREAK", -1}, {"b", 1.0}});
  expect_runs("BREAKING news, break, xBREAK, BREAK_1", {{"BREAKING news, break, xBREAK, BREAK_1", 1.0}});
  // Inside brackets it still breaks (a marker carries no weight), the text around keeps the weight.
  expect_runs("(a BREAK b)", {{"a", 1.1}, {"BREAK", -1}, {"b", 1.1}});
  expect_runs("a,BREAK,b", {{"a,", 1.0}, {"BREAK", -1}, {",b", 1.0}});
}

// Whatever text comes in, parsing ends and gives runs: random strings of the syntax's characters.
TEST(PromptWeights, AnyTextParses) {
  std::mt19937 rng(7);
  const std::string alphabet = "()[]:\\ ab1.2-+BREAK\xc3\xa9";
  for (int i = 0; i < 20000; ++i) {
    std::string s(rng() % 24, ' ');
    for (char& c : s) c = alphabet[rng() % alphabet.size()];
    const auto got = parse_prompt_weights(s);
    ASSERT_FALSE(got.empty()) << s;
    for (const auto& r : got) ASSERT_TRUE(r.is_break || !r.text.empty() || got.size() == 1) << s;
  }
}

// The spans' text (escapes read), weight by weight, is what parse_prompt_weights gives.
Runs spans_as_runs(const std::string& prompt) {
  Runs out;
  for (const WeightSpan& w : prompt_weight_spans(prompt)) {
    std::string text = w.is_break ? "BREAK" : "";
    for (size_t i = w.begin; !w.is_break && i < w.end; ++i) {
      if (prompt[i] == '\\' && i + 1 < w.end) ++i;
      text += prompt[i];
    }
    const double weight = w.is_break ? -1 : w.weight;
    if (!out.empty() && !w.is_break && out.back().second == weight) out.back().first += text;
    else out.emplace_back(text, weight);
  }
  return out;
}

TEST(PromptWeightSpans, RangesOfThePromptAsTyped) {
  const std::string p = "a (b:1.3) [c] \\(d\\) BREAK e";
  const std::vector<WeightSpan> got = prompt_weight_spans(p);
  std::vector<std::tuple<std::string, double, bool>> want = {
      {"a ", 1.0, false}, {"b", 1.3, false}, {" ", 1.0, false}, {"c", 1 / 1.1, false},
      {" \\(d\\)", 1.0, false}, {"BREAK", 1.0, true}, {"e", 1.0, false}};
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(p.substr(got[i].begin, got[i].end - got[i].begin), std::get<0>(want[i])) << i;
    EXPECT_NEAR(got[i].weight, std::get<1>(want[i]), 1e-12) << i;
    EXPECT_EQ(got[i].is_break, std::get<2>(want[i])) << i;
  }
  EXPECT_TRUE(prompt_weight_spans("").empty());
}

TEST(PromptWeightSpans, AgreeWithTheParseOnAnyText) {
  std::mt19937 rng(11);
  const std::string alphabet = "()[]:\\ ab1.2-+BREAK\xc3\xa9";
  for (int i = 0; i < 20000; ++i) {
    std::string s(rng() % 24, ' ');
    for (char& c : s) c = alphabet[rng() % alphabet.size()];
    size_t at = 0;
    for (const WeightSpan& w : prompt_weight_spans(s)) {
      ASSERT_LE(at, w.begin) << s;
      ASSERT_LT(w.begin, w.end) << s;
      ASSERT_LE(w.end, s.size()) << s;
      at = w.end;
    }
    // The same runs, where the parse has any text (its merging drops empty runs alike).
    Runs want = runs(s), got = spans_as_runs(s);
    if (want.size() == 1 && want[0].first.empty()) want.clear();
    ASSERT_EQ(got.size(), want.size()) << s;
    for (size_t k = 0; k < got.size(); ++k) {
      ASSERT_EQ(got[k].first, want[k].first) << s;
      ASSERT_NEAR(got[k].second, want[k].second, 1e-12) << s;
    }
  }
}

ClipTokenizer tokenizer() {
  return ClipTokenizer::from_vocab_merges(test::fixture("clip-tokenizer/vocab.json"),
                                          test::fixture("clip-tokenizer/merges.txt"));
}

// `n` words "cat", "cat", ... (one token each).
std::string words(int n, const std::string& word = "cat") {
  std::string s;
  for (int i = 0; i < n; ++i) s += (i ? " " : "") + word;
  return s;
}

std::vector<PromptChunk> chunks(const ClipTokenizer& t, const std::string& prompt, ChunkRules rules = {}) {
  return chunk_prompt(t, parse_prompt_weights(prompt), rules);
}

TEST(PromptChunks, AShortPromptIsOneChunkLaidOutAsDiffusersPadsIt) {
  const ClipTokenizer t = tokenizer();
  for (const std::string& prompt :
       std::vector<std::string>{"", "a photo of an astronaut riding a horse on mars", words(75)}) {
    const auto c = chunks(t, prompt);
    ASSERT_EQ(c.size(), 1u) << prompt;
    EXPECT_EQ(c[0].ids, t.encode_padded(prompt, 77)) << prompt;
    EXPECT_EQ(c[0].weights, std::vector<float>(77, 1.0f));
  }
}

TEST(PromptChunks, LongPromptsAreChunksOf75) {
  const ClipTokenizer t = tokenizer();
  const int32_t cat = t.encode("cat").at(0), dog = t.encode("dog").at(0);
  const auto c = chunks(t, words(75) + " " + words(10, "dog"));
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0].ids, t.encode_padded(words(75), 77));
  EXPECT_EQ(c[1].ids, t.encode_padded(words(10, "dog"), 77));
  EXPECT_EQ(c[0].ids[75], cat);
  EXPECT_EQ(c[1].ids[1], dog);
  EXPECT_EQ(chunks(t, words(151)).size(), 3u);
}

TEST(PromptChunks, WeightsFollowTheirTokens) {
  const ClipTokenizer t = tokenizer();
  const auto c = chunks(t, "a (red:1.5) cat [sleeping]");
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].ids, t.encode_padded("a red cat sleeping", 77));
  const std::vector<float> want_head{1.0f, 1.0f, 1.5f, 1.0f, float(1 / 1.1), 1.0f, 1.0f};
  EXPECT_EQ(std::vector<float>(c[0].weights.begin(), c[0].weights.begin() + 7), want_head);
}

TEST(PromptChunks, BreakStartsAChunk) {
  const ClipTokenizer t = tokenizer();
  const auto c = chunks(t, "a cat BREAK a dog");
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0].ids, t.encode_padded("a cat", 77));
  EXPECT_EQ(c[1].ids, t.encode_padded("a dog", 77));
  EXPECT_EQ(chunks(t, "BREAK").size(), 1u);  // an empty chunk: nothing follows it
  EXPECT_EQ(chunks(t, "BREAK a").size(), 2u);
}

// The chunk fills up within 20 tokens of a comma: what follows the comma moves on.
TEST(PromptChunks, WordsAfterANearCommaMoveToTheNextChunk) {
  const ClipTokenizer t = tokenizer();
  const std::string head = words(65) + ",", tail = words(15, "dog");
  const auto c = chunks(t, head + " " + tail);
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0].ids, t.encode_padded(head, 77));
  EXPECT_EQ(c[1].ids, t.encode_padded(tail, 77));
  ChunkRules none;
  none.comma_backtrack = 0;
  const auto cut = chunks(t, head + " " + tail, none);
  ASSERT_EQ(cut.size(), 2u);
  EXPECT_EQ(cut[1].ids, t.encode_padded(words(6, "dog"), 77));
  // A comma further back than 20 tokens does not move anything: 50 + 1 + 24 tokens fill the first chunk.
  const auto far = chunks(t, words(50) + ", " + words(30, "dog"));
  ASSERT_EQ(far.size(), 2u);
  EXPECT_EQ(far[1].ids, t.encode_padded(words(6, "dog"), 77));
}

TEST(PromptChunks, AKeepTogetherRunIsNotSplit) {
  const ClipTokenizer t = tokenizer();
  ChunkRules rules;
  const std::vector<int32_t> run = t.encode("red green blue");
  ASSERT_EQ(run.size(), 3u);
  rules.keep_together = {run};
  rules.comma_backtrack = 0;
  const auto c = chunks(t, words(74) + " red green blue", rules);
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0].ids, t.encode_padded(words(74), 77));
  EXPECT_EQ(c[1].ids, t.encode_padded("red green blue", 77));
  rules.keep_together = {std::vector<int32_t>(76, run[0])};
  EXPECT_THROW(chunks(t, words(76, "red"), rules), Error);
}

}  // namespace
}  // namespace websd
