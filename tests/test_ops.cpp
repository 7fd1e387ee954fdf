// Op by op: every case of the harness on each backend under test against the cpu reference kernels, compared by
// normalised error (sum of squared differences over sum of squares of the reference).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>

#include "backends/cpu/cpu_backend.h"
#include "op_cases.h"

namespace websd {
namespace {

// f32 everywhere: only summation order differs, and Winograd F(4×4, 3×3)'s rounding in its transforms (measured
// 5e-13..3e-12 on these cases, against 1e-14..2e-13 for the direct convolution).
constexpr double kMaxNormalisedError = 1e-10;

class OpParity : public testing::TestWithParam<std::string> {};

TEST_P(OpParity, AllCasesMatchTheReference) {
  auto reference = make_cpu_backend(CpuOptions{1, true});
  const std::string b = GetParam();
  CpuOptions options;
  options.threads = b == "cpu-1thread" ? 1 : 0;
  if (b == "cpu-portable") options.sgemm = cpu::SgemmRequest::kPortable;
  if (b == "cpu-blas") options.sgemm = cpu::SgemmRequest::kBlas;
  if (b == "cpu-winograd") {  // every 3×3 stride-1 convolution, a band per tile row (several bands an image)
    options.winograd = 1;
    options.winograd_band_rows = 1;
  }
  if (b == "cpu-direct") options.winograd = 0;
  auto under_test = make_cpu_backend(options);
  for (const auto& c : test::all_op_cases()) {
    std::vector<float> want = test::run_op_case(*reference, c);
    std::vector<float> got = test::run_op_case(*under_test, c);
    ASSERT_EQ(got.size(), want.size()) << c.name;
    const double err = test::normalised_error(got, want);
    std::printf("  %-12s %-44s nmse %.2e\n", GetParam().c_str(), c.name.c_str(), err);
    EXPECT_LE(err, kMaxNormalisedError) << c.name;
    for (float v : got) ASSERT_TRUE(std::isfinite(v)) << c.name;
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, OpParity, testing::Values("cpu", "cpu-1thread", "cpu-portable", "cpu-blas", "cpu-winograd",
                                                                "cpu-direct"),
                         [](const auto& info) {
                           std::string s = info.param;
                           for (char& c : s)
                             if (c == '-') c = '_';
                           return s;
                         });

}  // namespace
}  // namespace websd
