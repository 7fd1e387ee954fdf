#include "text/clip_tokenizer.h"

#include <algorithm>
#include <climits>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"
#include "text/unicode_categories.h"

namespace websd {

namespace {

using nlohmann::json;
namespace fs = std::filesystem;

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error(ErrorCode::kNotFound, path + ": cannot open the file");
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

json read_json(const std::string& path) {
  try {
    return json::parse(read_file(path));
  } catch (const json::exception& e) {
    throw Error(ErrorCode::kCorruptFile, path + ": invalid JSON (" + e.what() + ")");
  }
}

// A special token in a config is either a plain string or an AddedToken object {"content": ...}.
std::string token_content(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string())
    return v["content"].get<std::string>();
  return {};
}

// GPT-2's bytes_to_unicode: printable Latin-1 bytes stand for themselves, the other 68 bytes are moved to
// U+0100 onwards in byte order, so that every byte string becomes a printable, whitespace-free string.
const std::array<std::string, 256>& byte_symbols() {
  static const std::array<std::string, 256> table = [] {
    std::array<std::string, 256> t;
    char32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      unicode::append_utf8(printable ? char32_t(b) : next++, t[b]);
    }
    return t;
  }();
  return table;
}

uint64_t pair_key(int32_t left, int32_t right) {
  return (uint64_t(uint32_t(left)) << 32) | uint32_t(right);
}

bool starts_with_ascii(const std::u32string& s, size_t pos, std::string_view lit) {
  if (s.size() - pos < lit.size()) return false;
  for (size_t k = 0; k < lit.size(); ++k)
    if (s[pos + k] != char32_t(lit[k])) return false;
  return true;
}

// The pieces of one normalised segment, as [begin, end) code-point ranges: the CLIP pre-split regex followed
// by the GPT-2 regex of the ByteLevel pre-tokenizer. The latter only changes the special-token literals,
// which it cuts into "<|", the name and "|>".
std::vector<std::pair<size_t, size_t>> split_pieces(const std::u32string& s) {
  using unicode::is_letter, unicode::is_number, unicode::is_whitespace;
  std::vector<std::pair<size_t, size_t>> pieces;
  size_t n = s.size(), i = 0;
  while (i < n) {
    char32_t c = s[i];
    if (is_whitespace(c)) {
      ++i;
      continue;
    }
    bool literal = false;
    for (std::string_view lit : {"<|startoftext|>", "<|endoftext|>"}) {
      if (!starts_with_ascii(s, i, lit)) continue;
      pieces.push_back({i, i + 2});
      pieces.push_back({i + 2, i + lit.size() - 2});
      pieces.push_back({i + lit.size() - 2, i + lit.size()});
      i += lit.size();
      literal = true;
      break;
    }
    if (literal) continue;
    size_t end = i + 1;
    if (c == '\'' && i + 1 < n) {
      char32_t a = s[i + 1], b = i + 2 < n ? s[i + 2] : 0;
      if (a == 's' || a == 't' || a == 'm' || a == 'd')
        end = i + 2;
      else if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l'))
        end = i + 3;
    }
    if (end == i + 1) {
      if (is_letter(c)) {
        while (end < n && is_letter(s[end])) ++end;
      } else if (!is_number(c)) {
        while (end < n && !is_whitespace(s[end]) && !is_letter(s[end]) && !is_number(s[end])) ++end;
      }
    }
    pieces.push_back({i, end});
    i = end;
  }
  return pieces;
}

}  // namespace

struct ClipTokenizer::Cache {
  static constexpr size_t kMaxWords = 1 << 16;
  std::mutex mutex;
  std::unordered_map<std::string, std::vector<int32_t>> words;
};

ClipTokenizer::ClipTokenizer() : cache_(std::make_shared<Cache>()) {}

// ---------------------------------------------------------------------------------------------- loading

void ClipTokenizer::add_merge(const std::string& left, const std::string& right, const std::string& where) {
  int32_t l = token_to_id(left), r = token_to_id(right), m = token_to_id(left + right);
  if (l < 0 || r < 0 || m < 0)
    throw Error(ErrorCode::kCorruptFile,
                where + ": merge \"" + left + " " + right + "\" uses a token missing from the vocabulary");
  merges_.emplace(pair_key(l, r), Merge{int32_t(merges_.size()), m});  // a repeated pair keeps its first rank
}

void ClipTokenizer::add_special(const std::string& content, int32_t id) {
  if (content.empty() || id < 0) return;
  for (auto& s : specials_)
    if (s.first == content) return;
  specials_.emplace_back(content, id);
}

// Longest first, so that overlapping special tokens match the way the reference's trie does.
void ClipTokenizer::sort_specials() {
  std::stable_sort(specials_.begin(), specials_.end(),
                   [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
}

void ClipTokenizer::finish(const SpecialNames& names, const std::string& where) {
  const auto& symbols = byte_symbols();
  for (int b = 0; b < 256; ++b) {
    byte_ids_[b] = token_to_id(symbols[b]);
    byte_eow_ids_[b] = token_to_id(symbols[b] + "</w>");
  }
  auto resolve = [&](const std::string& name, const char* what) {
    int32_t id = token_to_id(name);
    for (auto& s : specials_)
      if (s.first == name) id = s.second;
    if (id < 0)
      throw Error(ErrorCode::kCorruptFile, where + ": " + what + " token \"" + name + "\" has no id");
    add_special(name, id);
    return id;
  };
  bos_id_ = resolve(names.bos, "bos");
  eos_id_ = resolve(names.eos, "eos");
  unk_id_ = resolve(names.unk, "unk");
  pad_id_ = names.pad.empty() ? eos_id_ : resolve(names.pad, "pad");
  sort_specials();
}

ClipTokenizer ClipTokenizer::from_vocab_merges(const std::string& vocab_json_path,
                                               const std::string& merges_txt_path) {
  ClipTokenizer t;
  t.read_vocab_merges(vocab_json_path, merges_txt_path);
  t.finish(SpecialNames{}, vocab_json_path);
  return t;
}

void ClipTokenizer::read_vocab_merges(const std::string& vocab_json_path,
                                      const std::string& merges_txt_path) {
  json vocab = read_json(vocab_json_path);
  if (!vocab.is_object()) throw Error(ErrorCode::kCorruptFile, vocab_json_path + ": expected a JSON object");
  for (auto& [token, id] : vocab.items()) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > INT32_MAX)
      throw Error(ErrorCode::kCorruptFile, vocab_json_path + ": token \"" + token + "\" has an invalid id");
    vocab_[token] = id.get<int32_t>();
  }
  std::istringstream lines(read_file(merges_txt_path));
  std::string line;
  for (int line_no = 1; std::getline(lines, line); ++line_no) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line.rfind("#version", 0) == 0) continue;
    size_t space = line.find(' ');
    if (space == std::string::npos || space == 0 || space + 1 == line.size())
      throw Error(ErrorCode::kCorruptFile,
                  merges_txt_path + ":" + std::to_string(line_no) + ": expected \"a b\"");
    add_merge(line.substr(0, space), line.substr(space + 1), merges_txt_path);
  }
}

ClipTokenizer ClipTokenizer::from_tokenizer_json(const std::string& path) {
  ClipTokenizer t;
  SpecialNames names;
  t.read_tokenizer_json(path, names);
  t.finish(names, path);
  return t;
}

void ClipTokenizer::read_tokenizer_json(const std::string& path, SpecialNames& names) {
  json j = read_json(path);
  const json* model = j.is_object() && j.contains("model") ? &j["model"] : nullptr;
  if (!model || !model->is_object() || !model->contains("vocab") || !(*model)["vocab"].is_object() ||
      !model->contains("merges") || !(*model)["merges"].is_array())
    throw Error(ErrorCode::kCorruptFile, path + ": expected model.vocab and model.merges");
  if (model->contains("type") && (*model)["type"] != "BPE")
    throw Error(ErrorCode::kUnsupported, path + ": tokenizer model is not BPE");
  for (auto& [token, id] : (*model)["vocab"].items()) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > INT32_MAX)
      throw Error(ErrorCode::kCorruptFile, path + ": token \"" + token + "\" has an invalid id");
    vocab_[token] = id.get<int32_t>();
  }
  for (const json& m : (*model)["merges"]) {
    if (m.is_string()) {  // older files: "left right"
      std::string s = m.get<std::string>();
      size_t space = s.find(' ');
      if (space == std::string::npos)
        throw Error(ErrorCode::kCorruptFile, path + ": bad merge \"" + s + "\"");
      add_merge(s.substr(0, space), s.substr(space + 1), path);
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      add_merge(m[0].get<std::string>(), m[1].get<std::string>(), path);
    } else {
      throw Error(ErrorCode::kCorruptFile, path + ": bad merge " + m.dump());
    }
  }
  if (j.contains("added_tokens") && j["added_tokens"].is_array())
    for (const json& a : j["added_tokens"])
      if (a.contains("id") && a["id"].is_number_integer())
        add_special(token_content(a), a["id"].get<int32_t>());
  if (std::string unk = token_content(model->value("unk_token", json())); !unk.empty()) names.unk = unk;
  // RobertaProcessing / TemplateProcessing name the tokens put around a sequence.
  if (j.contains("post_processor") && j["post_processor"].is_object()) {
    const json& pp = j["post_processor"];
    if (pp.contains("cls") && pp["cls"].is_array() && pp["cls"][0].is_string())
      names.bos = pp["cls"][0].get<std::string>();
    if (pp.contains("sep") && pp["sep"].is_array() && pp["sep"][0].is_string())
      names.eos = pp["sep"][0].get<std::string>();
  }
  if (j.contains("padding") && j["padding"].is_object())
    names.pad = token_content(j["padding"].value("pad_token", json()));
}

// tokenizer_config.json and special_tokens_map.json: bos_token/eos_token/unk_token/pad_token and, in newer
// configs, added_tokens_decoder {"id": {"content": ...}}.
void ClipTokenizer::read_special_config(const std::string& path, SpecialNames& names) {
  json j = read_json(path);
  if (!j.is_object()) throw Error(ErrorCode::kCorruptFile, path + ": expected a JSON object");
  auto take = [&](const char* key, std::string& into) {
    if (std::string v = token_content(j.value(key, json())); !v.empty()) into = v;
  };
  take("bos_token", names.bos);
  take("eos_token", names.eos);
  take("unk_token", names.unk);
  take("pad_token", names.pad);
  if (j.contains("added_tokens_decoder") && j["added_tokens_decoder"].is_object())
    for (auto& [id, tok] : j["added_tokens_decoder"].items()) {
      char* end = nullptr;
      long v = std::strtol(id.c_str(), &end, 10);
      if (end && *end == '\0' && v >= 0 && v <= INT32_MAX) add_special(token_content(tok), int32_t(v));
    }
}

ClipTokenizer ClipTokenizer::from_folder(const std::string& tokenizer_dir) {
  fs::path dir(tokenizer_dir);
  auto has = [&](const char* name) { return fs::is_regular_file(dir / name); };
  if (!fs::is_directory(dir))
    throw Error(ErrorCode::kNotFound, tokenizer_dir + ": tokenizer folder does not exist");
  ClipTokenizer t;
  SpecialNames names;
  std::string where;
  if (has("tokenizer.json")) {
    where = (dir / "tokenizer.json").string();
    t.read_tokenizer_json(where, names);
  } else if (has("vocab.json") && has("merges.txt")) {
    where = (dir / "vocab.json").string();
    t.read_vocab_merges(where, (dir / "merges.txt").string());
  } else {
    throw Error(ErrorCode::kNotFound,
                tokenizer_dir +
                    ": no tokenizer found (looked for tokenizer.json, or for vocab.json "
                    "together with merges.txt)");
  }
  // transformers lets special_tokens_map.json override tokenizer_config.json.
  for (const char* config : {"tokenizer_config.json", "special_tokens_map.json"})
    if (has(config)) t.read_special_config((dir / config).string(), names);
  t.finish(names, where);
  return t;
}

// --------------------------------------------------------------------------------------------- encoding

int32_t ClipTokenizer::add_word(const std::string& word) {
  if (word.empty() || vocab_.count(word)) return -1;
  int32_t next = 0;
  for (const auto& [token, id] : vocab_) next = std::max(next, id + 1);
  for (const auto& [token, id] : specials_) {
    if (token == word) return -1;
    next = std::max(next, id + 1);
  }
  specials_.emplace_back(word, next);
  sort_specials();
  return next;
}

int32_t ClipTokenizer::token_to_id(std::string_view token) const {
  auto it = vocab_.find(std::string(token));
  return it == vocab_.end() ? -1 : it->second;
}

std::vector<int32_t> ClipTokenizer::encode(std::string_view text) const {
  std::vector<int32_t> out;
  size_t start = 0, i = 0;
  while (i < text.size()) {
    const std::pair<std::string, int32_t>* hit = nullptr;
    for (const auto& s : specials_)  // sorted longest first
      if (text.substr(i, s.first.size()) == s.first) {
        hit = &s;
        break;
      }
    if (!hit) {
      ++i;
      continue;
    }
    encode_segment(text.substr(start, i - start), out);
    out.push_back(hit->second);
    i += hit->first.size();
    start = i;
  }
  encode_segment(text.substr(start), out);
  return out;
}

std::vector<int32_t> ClipTokenizer::encode_padded(std::string_view text, int max_len) const {
  if (max_len < 2) throw Error(ErrorCode::kInvalidArgument, "encode_padded: max_len must be at least 2");
  std::vector<int32_t> ids = encode(text);
  if (ids.size() > size_t(max_len - 2)) ids.resize(max_len - 2);
  std::vector<int32_t> out;
  out.reserve(max_len);
  out.push_back(bos_id_);
  out.insert(out.end(), ids.begin(), ids.end());
  out.push_back(eos_id_);
  out.resize(max_len, pad_id_);
  return out;
}

void ClipTokenizer::encode_segment(std::string_view text, std::vector<int32_t>& out) const {
  if (text.empty()) return;
  // The reference normaliser is NFC, then \s+ -> " ", then lowercase. The whitespace step needs no code here:
  // the pre-split drops all whitespace anyway.
  std::u32string s = unicode::to_lowercase(unicode::to_nfc(unicode::decode_utf8(text)));
  for (auto [begin, end] : split_pieces(s))
    encode_piece(unicode::encode_utf8(std::u32string_view(s).substr(begin, end - begin)), out);
}

void ClipTokenizer::encode_piece(const std::string& piece, std::vector<int32_t>& out) const {
  {
    std::lock_guard<std::mutex> lock(cache_->mutex);
    auto it = cache_->words.find(piece);
    if (it != cache_->words.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<int32_t> ids = bpe(piece);
  out.insert(out.end(), ids.begin(), ids.end());
  std::lock_guard<std::mutex> lock(cache_->mutex);
  if (cache_->words.size() >= Cache::kMaxWords) cache_->words.clear();
  cache_->words.emplace(piece, std::move(ids));
}

std::vector<int32_t> ClipTokenizer::bpe(const std::string& piece) const {
  // One symbol per byte; the last carries the end-of-word suffix.
  std::vector<int32_t> syms(piece.size());
  for (size_t k = 0; k < piece.size(); ++k) {
    auto b = static_cast<unsigned char>(piece[k]);
    syms[k] = k + 1 == piece.size() ? byte_eow_ids_[b] : byte_ids_[b];
  }
  // Repeatedly apply the lowest-ranked merge present, to all its (non-overlapping, left to right)
  // occurrences.
  std::vector<int32_t> next;
  while (syms.size() > 1) {
    const Merge* best = nullptr;
    uint64_t best_key = 0;
    for (size_t k = 0; k + 1 < syms.size(); ++k) {
      auto it = merges_.find(pair_key(syms[k], syms[k + 1]));
      if (it != merges_.end() && (!best || it->second.rank < best->rank)) {
        best = &it->second;
        best_key = it->first;
      }
    }
    if (!best) break;
    next.clear();
    for (size_t k = 0; k < syms.size(); ++k) {
      if (k + 1 < syms.size() && pair_key(syms[k], syms[k + 1]) == best_key) {
        next.push_back(best->merged_id);
        ++k;
      } else {
        next.push_back(syms[k]);
      }
    }
    syms.swap(next);
  }
  for (int32_t& id : syms)
    if (id < 0) id = unk_id_;  // a byte without a vocabulary entry (never the case for CLIP's vocabulary)
  return syms;
}

}  // namespace websd
