// Where the parity fixtures live, and small helpers to compare against them.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

namespace websd::test {

inline std::string fixtures_dir() {
  if (const char* env = std::getenv("WEBSD_FIXTURES")) return env;
  return WEBSD_FIXTURES_DIR;
}
inline std::string fixture(const std::string& rel) { return fixtures_dir() + "/" + rel; }

inline float max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  float m = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    float d = std::fabs(a[i] - b[i]);
    if (!(d <= m)) m = std::isnan(d) ? INFINITY : d;
  }
  return m;
}

}  // namespace websd::test
