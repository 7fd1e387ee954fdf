#include "text/unicode_categories.h"

#include <algorithm>
#include <unordered_map>

namespace websd::unicode {

using namespace detail;

namespace {

constexpr char32_t kReplacement = 0xFFFD;

// Hangul syllables compose and decompose algorithmically (Unicode 3.12), so they are not in the tables.
constexpr char32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr char32_t kLCount = 19, kVCount = 21, kTCount = 28, kNCount = kVCount * kTCount,
                   kSCount = kLCount * kNCount;

template <typename T>
const T* find_run(const T* table, size_t size, char32_t cp) {
  // The last entry whose first code point is <= cp, if cp lies inside it.
  const T* end = table + size;
  const T* it = std::upper_bound(table, end, cp, [](char32_t c, const T& r) { return c < r.first; });
  if (it == table) return nullptr;
  --it;
  return cp <= it->last ? it : nullptr;
}

bool in_ranges(const CodepointRange* table, size_t size, char32_t cp) {
  return find_run(table, size, cp) != nullptr;
}

const Decomposition* find_decomposition(char32_t cp) {
  const Decomposition* end = kDecompositions + kDecompositionsSize;
  const Decomposition* it =
      std::lower_bound(kDecompositions, end, cp, [](const Decomposition& d, char32_t c) { return d.cp < c; });
  return it != end && it->cp == cp ? it : nullptr;
}

void decompose(char32_t cp, std::u32string& out) {
  if (cp >= kSBase && cp < kSBase + kSCount) {
    char32_t s = cp - kSBase;
    out.push_back(kLBase + s / kNCount);
    out.push_back(kVBase + (s % kNCount) / kTCount);
    if (s % kTCount != 0) out.push_back(kTBase + s % kTCount);
    return;
  }
  const Decomposition* d = find_decomposition(cp);
  if (!d) {
    out.push_back(cp);
    return;
  }
  decompose(d->first, out);
  if (d->second) decompose(d->second, out);
}

// Primary composite for (first, second), or 0.
char32_t compose_pair(char32_t first, char32_t second) {
  if (first >= kLBase && first < kLBase + kLCount && second >= kVBase && second < kVBase + kVCount)
    return kSBase + ((first - kLBase) * kVCount + (second - kVBase)) * kTCount;
  if (first >= kSBase && first < kSBase + kSCount && (first - kSBase) % kTCount == 0 && second > kTBase &&
      second < kTBase + kTCount)
    return first + (second - kTBase);
  static const std::unordered_map<uint64_t, char32_t> pairs = [] {
    std::unordered_map<uint64_t, char32_t> m;
    for (size_t i = 0; i < kDecompositionsSize; ++i) {
      const Decomposition& d = kDecompositions[i];
      if (d.composes) m.emplace((uint64_t(d.first) << 32) | d.second, d.cp);
    }
    return m;
  }();
  auto it = pairs.find((uint64_t(first) << 32) | second);
  return it == pairs.end() ? 0 : it->second;
}

}  // namespace

std::u32string decode_utf8(std::string_view text) {
  std::u32string out;
  out.reserve(text.size());
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  size_t n = text.size(), i = 0;
  while (i < n) {
    unsigned char b = s[i];
    size_t len = b < 0x80 ? 1 : (b >> 5) == 0x6 ? 2 : (b >> 4) == 0xE ? 3 : (b >> 3) == 0x1E ? 4 : 0;
    char32_t cp = len == 1 ? b : len == 2 ? (b & 0x1F) : len == 3 ? (b & 0x0F) : (b & 0x07);
    bool ok = len != 0 && i + len <= n;
    for (size_t k = 1; ok && k < len; ++k) {
      ok = (s[i + k] & 0xC0) == 0x80;
      cp = (cp << 6) | (s[i + k] & 0x3F);
    }
    // Reject overlong forms, surrogates and values above U+10FFFF.
    static constexpr char32_t kMinForLen[] = {0, 0, 0x80, 0x800, 0x10000};
    if (ok && (cp < kMinForLen[len] || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)) ok = false;
    if (ok) {
      out.push_back(cp);
      i += len;
    } else {
      out.push_back(kReplacement);
      ++i;
    }
  }
  return out;
}

void append_utf8(char32_t cp, std::string& out) {
  if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) cp = kReplacement;
  if (cp < 0x80) {
    out.push_back(char(cp));
  } else if (cp < 0x800) {
    out.push_back(char(0xC0 | (cp >> 6)));
    out.push_back(char(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(char(0xE0 | (cp >> 12)));
    out.push_back(char(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(char(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(char(0xF0 | (cp >> 18)));
    out.push_back(char(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(char(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(char(0x80 | (cp & 0x3F)));
  }
}

std::string encode_utf8(std::u32string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char32_t cp : text) append_utf8(cp, out);
  return out;
}

bool is_letter(char32_t cp) {
  return in_ranges(kLetters, kLettersSize, cp);
}
bool is_number(char32_t cp) {
  return in_ranges(kNumbers, kNumbersSize, cp);
}

bool is_whitespace(char32_t cp) {
  // The White_Space property (PropList.txt); Python's unicodedata does not expose it, hence by hand.
  if (cp <= 0x20) return cp == 0x20 || (cp >= 0x09 && cp <= 0x0D);
  switch (cp) {
    case 0x85:
    case 0xA0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000:
      return true;
    default:
      return cp >= 0x2000 && cp <= 0x200A;
  }
}

int combining_class(char32_t cp) {
  if (cp < 0x300) return 0;
  const CombiningClassRun* r = find_run(kCombiningClasses, kCombiningClassesSize, cp);
  return r ? r->ccc : 0;
}

void append_lowercase(char32_t cp, std::u32string& out) {
  if (cp < 0x80) {
    out.push_back(cp >= 'A' && cp <= 'Z' ? cp + 32 : cp);
    return;
  }
  if (cp == 0x130) {  // LATIN CAPITAL LETTER I WITH DOT ABOVE: the one multi-code-point lowercase mapping
    out.push_back('i');
    out.push_back(0x307);
    return;
  }
  const LowercaseRun* r = find_run(kLowercase, kLowercaseSize, cp);
  if (r && (cp - r->first) % r->stride == 0) cp = char32_t(int32_t(cp) + r->delta);
  out.push_back(cp);
}

std::u32string to_lowercase(std::u32string_view text) {
  std::u32string out;
  out.reserve(text.size());
  for (char32_t cp : text) append_lowercase(cp, out);
  return out;
}

std::u32string to_nfc(std::u32string_view text) {
  // Below U+0300 nothing combines and every decomposable character recomposes to itself.
  if (std::all_of(text.begin(), text.end(), [](char32_t c) { return c < 0x300; }))
    return std::u32string(text);

  std::u32string d;
  d.reserve(text.size() + 8);
  for (char32_t cp : text) decompose(cp, d);

  // Canonical ordering: a stable sort by combining class of every run of non-starters.
  for (size_t i = 0; i < d.size();) {
    if (combining_class(d[i]) == 0) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < d.size() && combining_class(d[j]) != 0) ++j;
    std::stable_sort(d.begin() + i, d.begin() + j,
                     [](char32_t a, char32_t b) { return combining_class(a) < combining_class(b); });
    i = j;
  }

  // Canonical composition: a character joins the last starter unless something in between blocks it
  // (a starter, or a non-starter of the same or higher class).
  std::u32string out;
  out.reserve(d.size());
  size_t starter = std::u32string::npos;
  int last_class = -1;  // class of the last character appended; -1 when nothing can compose yet
  for (char32_t cp : d) {
    int cls = combining_class(cp);
    if (starter != std::u32string::npos && (last_class < cls || last_class == 0)) {
      if (char32_t c = compose_pair(out[starter], cp)) {
        out[starter] = c;
        continue;
      }
    }
    if (cls == 0) starter = out.size();
    last_class = (cls == 0 || starter != std::u32string::npos) ? cls : -1;
    out.push_back(cp);
  }
  return out;
}

const char* unicode_version() {
  return kUnicodeVersion;
}

}  // namespace websd::unicode
