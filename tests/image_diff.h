// Image parity as the issues state it, the one C++ definition (the native gtest suites through image_parity.h, the
// webgpu test module's model parity without gtest; js/test/image-compare.mjs states the same for the JS tests): at
// most kMaxLevels anywhere, and more than 1 level on at most 0.1% of the values.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>

namespace websd::test {

constexpr int kMaxLevels = 2;

struct ImageDiff {
  int worst = 0;     // the largest difference in levels (255 when the sizes differ)
  size_t over1 = 0;  // values off by more than 1 level
  size_t n = 0;      // values compared
  bool matches() const { return worst <= kMaxLevels && over1 * 1000 <= n; }
};

inline ImageDiff image_diff(const uint8_t* got, size_t n, const uint8_t* want, size_t want_n) {
  ImageDiff d;
  d.n = want_n;
  if (n != want_n) {
    d.worst = 255;
    return d;
  }
  for (size_t i = 0; i < n; ++i) {
    const int x = std::abs(int(got[i]) - int(want[i]));
    d.worst = std::max(d.worst, x);
    d.over1 += x > 1;
  }
  return d;
}

}  // namespace websd::test
