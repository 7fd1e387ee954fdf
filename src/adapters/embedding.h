// Textual inversion: a new word whose meaning was learned as one or more token embeddings. The word becomes new
// tokenizer entries (WORD, WORD_1, … for a file of several vectors, as diffusers' load_textual_inversion names
// them) and new rows of the text encoder's token embedding table; the prompt's WORD is spelled out as all of its
// entries before tokenising. Files as they are shared: the A1111 layout (`emb_params` [n, dim]), diffusers'
// `learned_embeds.safetensors` ({WORD: [dim] or [n, dim]}), and SDXL's (`clip_l` [n, 768], `clip_g` [n, 1280]).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "pipeline/text_conditioning.h"

namespace websd {

// An embedding asked for by path (GenerateParams::embeddings, `--embedding FILE[:WORD]`); an empty word is the
// file's stem, as the widely used web UI names them.
struct EmbeddingRequest {
  std::string path, word;
};

struct EmbeddingVectors {
  std::string key;           // the tensor it came from, for messages
  int count = 0, dim = 0;
  std::vector<float> data;   // [count, dim]
};

class EmbeddingFile {
 public:
  // Reads `path` (.safetensors; pickled .pt/.bin files are refused). Error(kCorruptFile / kUnsupported) naming
  // the file when it is not one of the layouts above.
  static std::shared_ptr<const EmbeddingFile> open(const std::string& path);
  const std::string& path() const { return path_; }
  // The vectors for text encoder `encoder` ("text_encoder", "text_encoder_2") of width `dim`; null where the
  // file has none of that width.
  const EmbeddingVectors* vectors_for(const std::string& encoder, int dim) const;

 private:
  std::string path_;
  std::vector<EmbeddingVectors> tables_;  // one, or clip_l and clip_g
  bool per_encoder_ = false;
};

struct EmbeddingUse {
  std::shared_ptr<const EmbeddingFile> file;
  std::string word;
};

// `FILE[:WORD]` as the command line takes it (WORD defaults to the file's stem).
EmbeddingRequest parse_embedding_argument(const std::string& arg);
// The word a request stands for: its own, or the stem of its file.
std::string embedding_word(const EmbeddingRequest& r);

// The embeddings of `dir` ("" = none) whose word (a NAME.safetensors file's NAME) one of `prompts` holds as a word
// of its own (not inside a longer word of letters and digits; in any ASCII case), in the order of the folder's
// sorted names.
std::vector<EmbeddingRequest> find_embeddings(const std::string& dir, const std::vector<std::string>& prompts);

// `base` (an encoder as the model has it, LoRAs merged or not) with the embeddings' words added: a tokenizer that
// knows them, a config with the larger vocabulary and weights whose token table has their vectors. Every
// embedding must fit every encoder (SDXL files need clip_l and clip_g); Error(kInvalidArgument) naming the file,
// the word and the widths otherwise, or when a word is already a token of the tokenizer.
ClipTextComponent with_embeddings(const ClipTextComponent& base, const std::vector<EmbeddingUse>& uses);

// `prompt` with each embedding's word spelled out as all of its tokenizer entries ("WORD WORD_1 …"), as diffusers'
// maybe_convert_prompt does. The word matches in any ASCII case, as in the widely used web UI (whose tokenizer
// lowercases it): "EASYNEGATIVE" is spelled as the word was registered.
std::string expand_embedding_words(const std::string& prompt, const std::vector<EmbeddingUse>& uses,
                                   const ClipTextComponent& text);

}  // namespace websd
