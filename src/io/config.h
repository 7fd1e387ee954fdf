// Reading a component's config.json strictly: every value the engine relies on is checked, and a value the
// engine does not implement is an Error(kUnsupported) that names the file, the key and what was found.
#pragma once

#include <initializer_list>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace websd {

class Config {
 public:
  Config() = default;
  Config(nlohmann::json j, std::string path) : j_(std::move(j)), path_(std::move(path)) {}
  static Config load(const std::string& path);  // Error(kNotFound / kCorruptFile) naming the file
  // Also accepts Python's -Infinity / Infinity / NaN (diffusers writes them); get_number() returns them as such.
  static Config parse(const std::string& text, const std::string& path);

  const nlohmann::json& json() const { return j_; }
  const std::string& path() const { return path_; }
  bool has(const std::string& key) const { return j_.contains(key) && !j_[key].is_null(); }

  int get_int(const std::string& key) const;
  int get_int(const std::string& key, int fallback) const;
  double get_number(const std::string& key, double fallback) const;
  bool get_bool(const std::string& key, bool fallback) const;
  std::string get_string(const std::string& key, const std::string& fallback) const;
  std::vector<int> get_ints(const std::string& key) const;
  std::vector<std::string> get_strings(const std::string& key) const;
  // An int or a list of ints: the list (an int becomes `count` copies).
  std::vector<int> get_int_or_list(const std::string& key, size_t count) const;

  // The key must be absent, null, or one of `allowed` (compared as JSON values).
  void require_one_of(const std::string& key, std::initializer_list<nlohmann::json> allowed) const;

  [[noreturn]] void unsupported(const std::string& key, const std::string& why) const;
  [[noreturn]] void invalid(const std::string& key, const std::string& why) const;

 private:
  const nlohmann::json& at(const std::string& key) const;
  nlohmann::json j_;
  std::string path_;
};

}  // namespace websd
