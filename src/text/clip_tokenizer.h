// CLIP byte-level BPE tokenizer, matching what Stable Diffusion pipelines feed their text encoders: the
// output of transformers' CLIPTokenizer (the Rust `tokenizers` backend that transformers 5 uses; the old
// Python one without ftfy differs only in corner cases, e.g. it split CJK ideographs into separate words).
//
// Steps, in the order the reference applies them:
//   1. special ("added") tokens such as <|endoftext|> are cut out of the raw text, case-sensitively;
//   2. each remaining segment is normalised: NFC, whitespace runs to one space, per-code-point lowercase;
//   3. it is split with the CLIP regex  <\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|
//      [\p{N}]|[^\s\p{L}\p{N}]+  (whitespace is dropped), then with the GPT-2 byte-level regex;
//   4. each piece is mapped byte-wise to printable characters (GPT-2 bytes_to_unicode), its last symbol
//      gets the end-of-word suffix "</w>", and BPE merges are applied by rank.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace websd {

class ClipTokenizer {
 public:
  // Hugging Face's two-file layout (`vocab.json` token -> id, `merges.txt` one "left right" pair per line).
  static ClipTokenizer from_vocab_merges(const std::string& vocab_json_path,
                                         const std::string& merges_txt_path);
  // Hugging Face's single-file `tokenizer.json` (model.vocab, model.merges as "a b" strings or [a, b] pairs,
  // added_tokens, padding).
  static ClipTokenizer from_tokenizer_json(const std::string& path);
  // A pipeline's `tokenizer/` folder: tokenizer.json if present, else vocab.json + merges.txt; special tokens
  // (bos/eos/unk/pad) are then taken from tokenizer_config.json and special_tokens_map.json when present.
  // Throws Error(kNotFound) naming the folder and the files it looked for.
  static ClipTokenizer from_folder(const std::string& tokenizer_dir);

  // Token ids without special tokens around them.
  std::vector<int32_t> encode(std::string_view text) const;
  // What the text encoder takes: bos, the ids truncated so that eos still fits, eos, then pad_id() up to
  // max_len.
  std::vector<int32_t> encode_padded(std::string_view text, int max_len = 77) const;

  int32_t bos_id() const { return bos_id_; }
  int32_t eos_id() const { return eos_id_; }
  // SD 1.x pads with eos (49407); SD 2.x and SDXL's second tokenizer with "!" (0).
  int32_t pad_id() const { return pad_id_; }
  int32_t unk_id() const { return unk_id_; }
  size_t vocab_size() const { return vocab_.size(); }
  // Id of a token string as it appears in the vocabulary (e.g. "a</w>"), or -1.
  int32_t token_to_id(std::string_view token) const;
  // Adds `word` as a new token (the next id after every token known), cut out of the raw text wherever it
  // appears, as transformers' add_tokens does (case-sensitively here); its id, or -1 when the tokenizer already
  // has such a token.
  int32_t add_word(const std::string& word);

 private:
  struct Merge {
    int32_t rank;
    int32_t merged_id;
  };
  struct Cache;  // word -> ids, shared and locked so that const encode() is thread-safe
  struct SpecialNames {
    std::string bos = "<|startoftext|>", eos = "<|endoftext|>", unk = "<|endoftext|>", pad;
  };

  ClipTokenizer();
  void read_vocab_merges(const std::string& vocab_json_path, const std::string& merges_txt_path);
  void read_tokenizer_json(const std::string& path, SpecialNames& names);
  void read_special_config(const std::string& path, SpecialNames& names);
  void add_merge(const std::string& left, const std::string& right, const std::string& where);
  void finish(const SpecialNames& names, const std::string& where);
  void add_special(const std::string& content, int32_t id);
  void sort_specials();
  void encode_segment(std::string_view text, std::vector<int32_t>& out) const;
  void encode_piece(const std::string& piece, std::vector<int32_t>& out) const;
  std::vector<int32_t> bpe(const std::string& piece) const;

  std::unordered_map<std::string, int32_t> vocab_;
  std::unordered_map<uint64_t, Merge> merges_;  // key: (left id << 32) | right id
  // Tokens cut out of the raw text before normalisation (longest match first), with their ids.
  std::vector<std::pair<std::string, int32_t>> specials_;
  std::array<int32_t, 256> byte_ids_{};      // id of each byte's symbol inside a word
  std::array<int32_t, 256> byte_eow_ids_{};  // ... and at the end of a word ("</w>" appended)
  int32_t bos_id_ = -1, eos_id_ = -1, pad_id_ = -1, unk_id_ = -1;
  std::shared_ptr<Cache> cache_;
};

}  // namespace websd
