#include "text/prompt_weights.h"

#include <cstdlib>

namespace websd {
namespace {

constexpr double kRoundBracket = 1.1, kSquareBracket = 1 / 1.1;

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
// A character of a word for BREAK's word boundaries: ASCII letters, digits and '_', and every byte of a
// non-ASCII UTF-8 sequence (letters of other scripts, as Python's \w mostly takes them).
bool is_word(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u >= 0x80 || (u >= '0' && u <= '9') || (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || c == '_';
}
bool is_special(char c) {
  return c == '\\' || c == '(' || c == ')' || c == '[' || c == ']' || c == ':';
}

// At `s[i] == ':'`: the length of ":<spaces><number><spaces>)" and its number, or 0 when it is not one. The
// number is what the web UI's pattern [+-]?[.\d]+ takes, and must also read as one (digits with at most one
// point).
size_t weight_close(std::string_view s, size_t i, double& weight) {
  size_t j = i + 1;
  while (j < s.size() && is_space(s[j])) ++j;
  const size_t start = j;
  if (j < s.size() && (s[j] == '+' || s[j] == '-')) ++j;
  int digits = 0, points = 0;
  for (; j < s.size() && ((s[j] >= '0' && s[j] <= '9') || s[j] == '.'); ++j) (s[j] == '.' ? points : digits)++;
  if (digits == 0 || points > 1) return 0;
  const std::string number(s.substr(start, j - start));
  while (j < s.size() && is_space(s[j])) ++j;
  if (j >= s.size() || s[j] != ')') return 0;
  weight = std::strtod(number.c_str(), nullptr);
  return j + 1 - i;
}

// A run of the parse with the bytes of the prompt it came from.
struct Piece {
  WeightedText run;
  size_t begin, end;
};

// Plain text (prompt bytes [base, base + text.size())) split at each BREAK (a word of its own; the spaces around
// it go with it).
void add_text(std::vector<Piece>& out, std::string_view text, size_t base) {
  size_t from = 0;
  for (size_t at = text.find("BREAK"); at != std::string_view::npos; at = text.find("BREAK", at + 1)) {
    const size_t end = at + 5;
    if ((at > 0 && is_word(text[at - 1])) || (end < text.size() && is_word(text[end]))) continue;
    size_t left = at;
    while (left > from && is_space(text[left - 1])) --left;
    out.push_back({{std::string(text.substr(from, left - from)), 1.0, false}, base + from, base + left});
    out.push_back({{"", 1.0, true}, base + at, base + end});
    from = end;
    while (from < text.size() && is_space(text[from])) ++from;
    at = from > 0 ? from - 1 : 0;
  }
  out.push_back({{std::string(text.substr(from)), 1.0, false}, base + from, base + text.size()});
}

// The one parse behind both public functions: every run with its weight and source bytes, unmerged.
std::vector<Piece> parse(std::string_view s) {
  std::vector<Piece> res;
  std::vector<size_t> round, square;  // where each open bracket's range starts in res
  auto multiply_from = [&](size_t start, double m) {
    for (size_t p = start; p < res.size(); ++p)
      if (!res[p].run.is_break) res[p].run.weight *= m;
  };
  for (size_t i = 0; i < s.size();) {
    const char c = s[i];
    double weight = 0;
    size_t n = 0;
    if (c == '\\') {
      // An escaped bracket or backslash is itself; a lone backslash is dropped (the web UI's pattern takes it
      // alone).
      const bool escapes = i + 1 < s.size() && (s[i + 1] == '(' || s[i + 1] == ')' || s[i + 1] == '[' ||
                                                s[i + 1] == ']' || s[i + 1] == '\\');
      if (escapes) res.push_back({{std::string(1, s[i + 1]), 1.0, false}, i, i + 2});
      i += escapes ? 2 : 1;
    } else if (c == '(') {
      round.push_back(res.size());
      ++i;
    } else if (c == '[') {
      square.push_back(res.size());
      ++i;
    } else if (c == ':' && !round.empty() && (n = weight_close(s, i, weight)) > 0) {
      multiply_from(round.back(), weight);
      round.pop_back();
      i += n;
    } else if (c == ')' && !round.empty()) {
      multiply_from(round.back(), kRoundBracket);
      round.pop_back();
      ++i;
    } else if (c == ']' && !square.empty()) {
      multiply_from(square.back(), kSquareBracket);
      square.pop_back();
      ++i;
    } else {
      // A run of text. A ':' is text by itself, as are a weight with no bracket open (the whole ":1.2)") and
      // a bracket that closes nothing.
      size_t end = i + 1;
      if (c == ')' || c == ']') {
      } else if (c == ':') {
        if (round.empty() && (n = weight_close(s, i, weight)) > 0) end = i + n;
      } else {
        while (end < s.size() && !is_special(s[end])) ++end;
      }
      add_text(res, s.substr(i, end - i), i);
      i = end;
    }
  }
  for (size_t start : round) multiply_from(start, kRoundBracket);
  for (size_t start : square) multiply_from(start, kSquareBracket);
  return res;
}

}  // namespace

std::vector<WeightedText> parse_prompt_weights(std::string_view s) {
  std::vector<WeightedText> merged;
  for (Piece& piece : parse(s)) {
    WeightedText& r = piece.run;
    if (!r.is_break && r.text.empty()) continue;
    if (!merged.empty() && !r.is_break && !merged.back().is_break && merged.back().weight == r.weight)
      merged.back().text += r.text;
    else
      merged.push_back(std::move(r));
  }
  if (merged.empty()) merged.push_back({"", 1.0, false});
  return merged;
}

std::vector<WeightSpan> prompt_weight_spans(std::string_view s) {
  std::vector<WeightSpan> spans;
  for (const Piece& piece : parse(s)) {
    if (piece.begin == piece.end) continue;
    WeightSpan span{piece.begin, piece.end, piece.run.weight, piece.run.is_break};
    if (!spans.empty() && !span.is_break && !spans.back().is_break && spans.back().end == span.begin &&
        spans.back().weight == span.weight)
      spans.back().end = span.end;
    else
      spans.push_back(span);
  }
  return spans;
}

}  // namespace websd
