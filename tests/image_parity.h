// Image parity (image_diff.h) as a gtest expectation.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "image_diff.h"

namespace websd::test {

// Compares `n` 8-bit values with the reference's (image_diff.h), prints the worst difference and returns it.
inline int expect_image_matches(const uint8_t* got, size_t n, const uint8_t* want, size_t want_n,
                                const std::string& what) {
  EXPECT_EQ(n, want_n) << what;
  const ImageDiff d = image_diff(got, n, want, want_n);
  if (n != want_n) return d.worst;
  std::printf("  %-28s max diff %d levels, %.4f%% of values off by more than 1\n", what.c_str(), d.worst,
              100.0 * double(d.over1) / double(d.n));
  EXPECT_TRUE(d.matches()) << what << ": max diff " << d.worst << " levels, " << d.over1 << " of " << d.n
                           << " values off by more than 1";
  return d.worst;
}

}  // namespace websd::test
