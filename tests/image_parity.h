// Image parity as the issues state it: within 1 level on 99.9% of values and 2 levels everywhere.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace websd::test {

// Compares `n` 8-bit values with the reference's, prints the worst difference and returns it.
inline int expect_image_matches(const uint8_t* got, size_t n, const uint8_t* want, size_t want_n,
                                const std::string& what) {
  EXPECT_EQ(n, want_n) << what;
  if (n != want_n) return 255;
  size_t over1 = 0;
  int worst = 0;
  for (size_t i = 0; i < n; ++i) {
    const int d = std::abs(int(got[i]) - int(want[i]));
    worst = std::max(worst, d);
    over1 += d > 1;
  }
  const double frac = double(over1) / double(n);
  std::printf("  %-28s max diff %d levels, %.4f%% of values off by more than 1\n", what.c_str(), worst,
              100 * frac);
  EXPECT_LE(worst, 2) << what;
  EXPECT_LE(frac, 0.001) << what;
  return worst;
}

}  // namespace websd::test
