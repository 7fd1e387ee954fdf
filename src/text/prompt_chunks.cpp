#include "text/prompt_chunks.h"

#include <algorithm>
#include <string>

#include "core/error.h"

namespace websd {
namespace {

// The length of the keep-together run that starts at tokens[at], or 0.
size_t run_at(const std::vector<std::vector<int32_t>>& runs, const std::vector<int32_t>& tokens, size_t at) {
  for (const auto& r : runs)
    if (r.size() > 1 && at + r.size() <= tokens.size() && std::equal(r.begin(), r.end(), tokens.begin() + long(at)))
      return r.size();
  return 0;
}

}  // namespace

PromptChunk empty_chunk(const ClipTokenizer& tokenizer, int max_positions) {
  return {tokenizer.encode_padded("", max_positions), std::vector<float>(size_t(max_positions), 1.0f)};
}

std::vector<PromptChunk> chunk_prompt(const ClipTokenizer& tokenizer, const std::vector<WeightedText>& runs,
                                      const ChunkRules& rules) {
  const size_t room = size_t(rules.max_positions - 2);
  const int32_t comma = tokenizer.token_to_id(",</w>");
  std::vector<PromptChunk> chunks;
  std::vector<int32_t> tokens;
  std::vector<float> weights;
  long last_comma = -1;  // where in `tokens` the last comma is
  auto next_chunk = [&] {
    // BOS, the tokens, EOS, then padding: the layout of a short prompt, weights 1 outside the tokens.
    PromptChunk c = empty_chunk(tokenizer, rules.max_positions);
    std::copy(tokens.begin(), tokens.end(), c.ids.begin() + 1);
    std::copy(weights.begin(), weights.end(), c.weights.begin() + 1);
    c.ids[tokens.size() + 1] = tokenizer.eos_id();
    if (tokens.size() + 2 < c.ids.size()) c.ids[tokens.size() + 2] = tokenizer.pad_id();
    chunks.push_back(std::move(c));
    tokens.clear();
    weights.clear();
    last_comma = -1;
  };
  for (const WeightedText& run : runs) {
    if (run.is_break) {
      next_chunk();
      continue;
    }
    const std::vector<int32_t> ids = tokenizer.encode(run.text);
    for (size_t at = 0; at < ids.size();) {
      if (ids[at] == comma) {
        last_comma = long(tokens.size());
      } else if (rules.comma_backtrack > 0 && tokens.size() == room && last_comma >= 0 &&
                 long(tokens.size()) - last_comma <= rules.comma_backtrack) {
        // The chunk is full a few words after a comma: those words start the next chunk instead.
        const auto cut = long(last_comma) + 1;
        std::vector<int32_t> moved(tokens.begin() + cut, tokens.end());
        std::vector<float> moved_w(weights.begin() + cut, weights.end());
        tokens.resize(size_t(cut));
        weights.resize(size_t(cut));
        next_chunk();
        tokens = std::move(moved);
        weights = std::move(moved_w);
      }
      if (tokens.size() == room) next_chunk();
      const size_t together = std::max<size_t>(run_at(rules.keep_together, ids, at), 1);
      if (together > room)
        throw Error(ErrorCode::kInvalidArgument, "a textual-inversion word of " + std::to_string(together) +
                                                     " vectors does not fit in one prompt chunk of " +
                                                     std::to_string(room) + " tokens");
      if (tokens.size() + together > room) next_chunk();
      tokens.insert(tokens.end(), ids.begin() + long(at), ids.begin() + long(at + together));
      weights.insert(weights.end(), together, float(run.weight));
      at += together;
    }
  }
  if (!tokens.empty() || chunks.empty()) next_chunk();
  return chunks;
}

}  // namespace websd
