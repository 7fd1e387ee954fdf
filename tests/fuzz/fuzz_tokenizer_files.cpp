// Tokenizer files from anywhere: the input is split at its first NUL byte into vocab.json and merges.txt (read as
// Hugging Face's two-file layout), and read whole as tokenizer.json; what loads must then encode.
#include <cstring>

#include "fuzz_support.h"
#include "text/clip_tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const uint8_t* nul = static_cast<const uint8_t*>(std::memchr(data, 0, size));
  const size_t split = nul ? size_t(nul - data) : size;
  const std::string vocab = websd::fuzz::write_file("tok/vocab.json", data, split);
  const std::string merges = websd::fuzz::write_file("tok/merges.txt", data + std::min(size, split + 1),
                                                     size - std::min(size, split + 1));
  websd::fuzz::expect_clear_errors([&] {
    const auto t = websd::ClipTokenizer::from_vocab_merges(vocab, merges);
    (void)t.encode("a photo of an astronaut, riding a horse <|endoftext|> on mars 123");
  });
  const std::string json = websd::fuzz::write_file("tok/tokenizer.json", data, size);
  websd::fuzz::expect_clear_errors([&] {
    const auto t = websd::ClipTokenizer::from_tokenizer_json(json);
    (void)t.encode("a photo of an astronaut, riding a horse on mars");
  });
  return 0;
}
