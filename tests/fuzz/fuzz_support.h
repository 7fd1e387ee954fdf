// Shared by the libFuzzer targets (tests/fuzz, scripts/fuzz.sh): inputs written where the file-based parsers read
// them, and the one rule every target checks — outside data may fail only with websd::Error (a clear message);
// any other exception escapes to libFuzzer, which reports it like a crash, as do the sanitizers' findings.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "core/error.h"

namespace websd::fuzz {

// A folder of this process's own under the temp folder, made once.
inline const std::filesystem::path& scratch() {
  static const std::filesystem::path dir = [] {
    auto d = std::filesystem::temp_directory_path() / ("websd-fuzz-" + std::to_string(getpid()));
    std::filesystem::create_directories(d);
    return d;
  }();
  return dir;
}

inline std::string write_file(const std::string& name, const uint8_t* data, size_t size) {
  const std::filesystem::path p = scratch() / name;
  std::filesystem::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary | std::ios::trunc).write(reinterpret_cast<const char*>(data), std::streamsize(size));
  return p.string();
}

// Runs `f`, swallowing websd::Error only.
template <typename F>
void expect_clear_errors(F&& f) {
  try {
    f();
  } catch (const Error&) {
  }
}

// The fixtures folder (for the real tokenizer), as the tests find it.
inline std::string fixtures() {
  if (const char* env = std::getenv("WEBSD_FIXTURES")) return env;
  return WEBSD_FIXTURES_DIR;
}

}  // namespace websd::fuzz
