// A prompt of any length as the text encoder reads it, the way the widely used web UI feeds CLIP: the
// weighted runs (prompt_weights.h) tokenised one by one, cut into chunks of max_positions - 2 (75) tokens,
// each chunk wrapped in BOS/EOS and padded exactly as a short prompt is (tokenizer.encode_padded), its tokens
// keeping their run's weight. A chunk ends early at BREAK, and when it fills up within `comma_backtrack`
// tokens after a comma, the words after that comma move to the next chunk. A token run of `keep_together` (a
// textual-inversion word of several vectors) never straddles two chunks.
#pragma once

#include <cstdint>
#include <vector>

#include "text/clip_tokenizer.h"
#include "text/prompt_weights.h"

namespace websd {

struct PromptChunk {
  std::vector<int32_t> ids;    // max_positions
  std::vector<float> weights;  // one per id; 1 for BOS, EOS and padding
};

struct ChunkRules {
  int max_positions = 77;
  int comma_backtrack = 20;  // the web UI's default; 0 = never move words
  std::vector<std::vector<int32_t>> keep_together;
};

// Never empty: an empty prompt is one chunk of BOS, EOS and padding.
std::vector<PromptChunk> chunk_prompt(const ClipTokenizer& tokenizer, const std::vector<WeightedText>& runs,
                                      const ChunkRules& rules);
// The chunk of an empty prompt (what a shorter prompt is padded with).
PromptChunk empty_chunk(const ClipTokenizer& tokenizer, int max_positions);

}  // namespace websd
