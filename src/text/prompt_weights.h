// Prompt weighting in the syntax the widely used web UI (AUTOMATIC1111) reads, so that prompts written for it
// mean the same here:
//   (text)        weight × 1.1, nested: ((text)) × 1.21
//   (text:1.3)    weight × 1.3 (a number: digits with an optional point and sign)
//   [text]        weight ÷ 1.1
//   \( \) \[ \] \\   the character itself; any other backslash is dropped, as the web UI does
//   BREAK         (capitals, a word of its own) ends the current 75-token chunk
// Unbalanced brackets never fail: an unclosed ( or [ applies to the rest of the prompt, a ) or ] that closes
// nothing is text, a "(text:x)" whose x is not a number is text. Differences from the web UI, where it would
// fail or misbehave: a weight such as "1.2.3" is text (the web UI throws), and BREAK inside brackets still
// breaks (the web UI's multiplier turns it into the word "BREAK").
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace websd {

struct WeightedText {
  std::string text;
  double weight = 1.0;    // products in double, as the web UI's Python computes them
  bool is_break = false;  // a BREAK marker (text empty)
};

// The prompt as runs of text with their weights, neighbours of equal weight merged; never empty (an empty
// prompt is one empty run of weight 1).
std::vector<WeightedText> parse_prompt_weights(std::string_view prompt);

// Where the weights are in the prompt as typed, from the same parse: byte ranges [begin, end) of the prompt with
// the weight their text gets (an escape such as \( is one span of its two bytes; the word BREAK is a span of
// its own). Brackets and ":1.3)" weight syntax lie between spans, in no span; touching
// spans of one weight are merged. For highlighting a prompt as it is typed.
struct WeightSpan {
  size_t begin = 0, end = 0;
  double weight = 1.0;
  bool is_break = false;
};
std::vector<WeightSpan> prompt_weight_spans(std::string_view prompt);

}  // namespace websd
