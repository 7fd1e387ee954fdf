// Prompt text as users type it, UTF-8 or not: the weighting syntax (text/prompt_weights.h), the <lora:…> tags,
// the spans the page highlights, and the real CLIP tokenizer (the fixtures' clip-tokenizer) on every piece.
#include <memory>

#include "adapters/lora.h"
#include "fuzz_support.h"
#include "text/clip_tokenizer.h"
#include "text/prompt_weights.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::unique_ptr<websd::ClipTokenizer> tokenizer = [] {
    try {
      return std::make_unique<websd::ClipTokenizer>(
          websd::ClipTokenizer::from_folder(websd::fuzz::fixtures() + "/clip-tokenizer"));
    } catch (const websd::Error&) {
      return std::unique_ptr<websd::ClipTokenizer>();  // without the fixtures: the syntax only
    }
  }();
  std::string prompt(reinterpret_cast<const char*>(data), size);
  websd::fuzz::expect_clear_errors([&] {
    for (const websd::WeightedText& w : websd::parse_prompt_weights(prompt))
      if (tokenizer) (void)tokenizer->encode(w.text);
    (void)websd::prompt_weight_spans(prompt);
  });
  websd::fuzz::expect_clear_errors([&] { (void)websd::take_lora_tags(prompt); });
  return 0;
}
