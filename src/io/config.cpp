#include "io/config.h"

#include <fstream>
#include <sstream>

#include "core/error.h"

namespace websd {

Config Config::load(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw Error(ErrorCode::kNotFound, path + ": cannot open (missing component folder or config file?)");
  std::stringstream ss;
  ss << f.rdbuf();
  try {
    return Config(nlohmann::json::parse(ss.str()), path);
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
