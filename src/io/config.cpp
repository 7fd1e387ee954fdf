#include "io/config.h"

#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>

#include "core/error.h"

namespace websd {

namespace {

// Python's json module writes -Infinity, Infinity and NaN (diffusers' lambda_min_clipped is -inf); strict JSON
// parsers reject them. Outside strings they become the strings "-Infinity", "Infinity", "NaN", which
// get_number() understands.
std::string quote_python_floats(const std::string& text) {
  std::string out;
  out.reserve(text.size() + 16);
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      out += c;
      if (c == '\\' && i + 1 < text.size()) out += text[++i];
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    bool replaced = false;
    for (const char* token : {"-Infinity", "Infinity", "NaN"}) {
      if (text.compare(i, std::strlen(token), token) == 0) {
        out += std::string("\"") + token + "\"";
        i += std::strlen(token) - 1;
        replaced = true;
        break;
      }
    }
    if (!replaced) out += c;
  }
  return out;
}

}  // namespace

Config Config::parse(const std::string& text, const std::string& path) {
  try {
    return Config(nlohmann::json::parse(quote_python_floats(text)), path);
  } catch (const nlohmann::json::exception& e) {
    throw Error(ErrorCode::kCorruptFile, path + ": not valid JSON (" + e.what() + ")");
  }
}

Config Config::load(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw Error(ErrorCode::kNotFound, path + ": cannot open (missing component folder or config file?)");
  std::stringstream ss;
  ss << f.rdbuf();
  try {
    return parse(ss.str(), path);
  } catch (const nlohmann::json::exception& e) {
    throw Error(ErrorCode::kCorruptFile, path + ": not valid JSON (" + e.what() + ")");
  }
}

const nlohmann::json& Config::at(const std::string& key) const {
  if (!has(key)) throw Error(ErrorCode::kCorruptFile, path_ + ": required key \"" + key + "\" is missing");
  return j_[key];
}

void Config::unsupported(const std::string& key, const std::string& why) const {
  throw Error(ErrorCode::kUnsupported, path_ + ": \"" + key + "\" " + why);
}

void Config::invalid(const std::string& key, const std::string& why) const {
  throw Error(ErrorCode::kCorruptFile, path_ + ": \"" + key + "\" " + why);
}

int Config::get_int(const std::string& key) const {
  const auto& v = at(key);
  if (!v.is_number_integer()) invalid(key, "must be an integer, found " + v.dump());
  return v.get<int>();
}

int Config::get_int(const std::string& key, int fallback) const { return has(key) ? get_int(key) : fallback; }

double Config::get_number(const std::string& key, double fallback) const {
  if (!has(key)) return fallback;
  const auto& v = j_[key];
  if (v.is_string()) {
    const std::string s = v.get<std::string>();
    if (s == "-Infinity") return -std::numeric_limits<double>::infinity();
    if (s == "Infinity") return std::numeric_limits<double>::infinity();
    if (s == "NaN") return std::numeric_limits<double>::quiet_NaN();
  }
  if (!v.is_number()) invalid(key, "must be a number, found " + v.dump());
  return v.get<double>();
}

bool Config::get_bool(const std::string& key, bool fallback) const {
  if (!has(key)) return fallback;
  const auto& v = j_[key];
  if (!v.is_boolean()) invalid(key, "must be true or false, found " + v.dump());
  return v.get<bool>();
}

std::string Config::get_string(const std::string& key, const std::string& fallback) const {
  if (!has(key)) return fallback;
  const auto& v = j_[key];
  if (!v.is_string()) invalid(key, "must be a string, found " + v.dump());
  return v.get<std::string>();
}

std::vector<int> Config::get_ints(const std::string& key) const {
  const auto& v = at(key);
  if (!v.is_array()) invalid(key, "must be a list of integers, found " + v.dump());
  std::vector<int> out;
  for (const auto& e : v) {
    if (!e.is_number_integer()) invalid(key, "must be a list of integers, found " + v.dump());
    out.push_back(e.get<int>());
  }
  return out;
}

std::vector<std::string> Config::get_strings(const std::string& key) const {
  const auto& v = at(key);
  if (!v.is_array()) invalid(key, "must be a list of strings, found " + v.dump());
  std::vector<std::string> out;
  for (const auto& e : v) {
    if (!e.is_string()) invalid(key, "must be a list of strings, found " + v.dump());
    out.push_back(e.get<std::string>());
  }
  return out;
}

std::vector<int> Config::get_int_or_list(const std::string& key, size_t count) const {
  const auto& v = at(key);
  if (v.is_number_integer()) return std::vector<int>(count, v.get<int>());
  std::vector<int> out = get_ints(key);
  if (out.size() != count)
    invalid(key, "has " + std::to_string(out.size()) + " entries, expected " + std::to_string(count));
  return out;
}

void Config::require_one_of(const std::string& key, std::initializer_list<nlohmann::json> allowed) const {
  if (!has(key)) return;
  for (const auto& a : allowed)
    if (j_[key] == a) return;
  std::string list;
  for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a.dump();
  unsupported(key, "is " + j_[key].dump() + "; websd supports " + (list.empty() ? "only null" : list));
}

}  // namespace websd
