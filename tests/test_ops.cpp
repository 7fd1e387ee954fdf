// Op by op: every case of the harness on each backend under test against the cpu reference kernels, compared by
// normalised error (sum of squared differences over sum of squares of the reference).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <random>

#include "backends/cpu/cpu_backend.h"
#include "op_cases.h"

namespace websd {
namespace {

constexpr double kMaxNormalisedError = 1e-10;  // f32 everywhere: only summation order differs

std::vector<float> run_case(Backend& backend, const test::OpCase& c) {
  auto g = std::make_shared<Graph>();
  std::vector<std::shared_ptr<void>> keep;
  c.build(*g, keep);
  auto exe = backend.compile(g);
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-2.0f, 2.0f);
  for (TensorId id : g->inputs()) {
    const Node& n = g->node(id);
    if (n.dtype == DType::kI32) {
      std::vector<int32_t> ids(size_t(n.shape.numel()));
      for (auto& v : ids) v = int32_t(rng() % 500);
      exe->set_input(id, ids.data());
    } else {
      std::vector<float> x(size_t(n.shape.numel()));
      for (auto& v : x) v = u(rng);
      exe->set_input(id, x.data());
    }
  }
  exe->run();
  TensorId out = g->outputs().at(0);
  std::vector<float> y(size_t(g->shape(out).numel()));
  exe->read(out, y.data());
  return y;
}

double normalised_error(const std::vector<float>& got, const std::vector<float>& want) {
  double num = 0, den = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    num += double(got[i] - want[i]) * double(got[i] - want[i]);
    den += double(want[i]) * double(want[i]);
  }
  return den > 0 ? num / den : num;
}

class OpParity : public testing::TestWithParam<std::string> {};

TEST_P(OpParity, AllCasesMatchTheReference) {
  auto reference = make_cpu_backend(CpuOptions{1, true});
  const std::string b = GetParam();
  auto under_test = make_cpu_backend(CpuOptions{b == "cpu-1thread" ? 1 : 0, false, b == "cpu-portable"});
  for (const auto& c : test::all_op_cases()) {
    std::vector<float> want = run_case(*reference, c);
    std::vector<float> got = run_case(*under_test, c);
    ASSERT_EQ(got.size(), want.size()) << c.name;
    const double err = normalised_error(got, want);
    std::printf("  %-12s %-44s nmse %.2e\n", GetParam().c_str(), c.name.c_str(), err);
    EXPECT_LE(err, kMaxNormalisedError) << c.name;
    for (float v : got) ASSERT_TRUE(std::isfinite(v)) << c.name;
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, OpParity, testing::Values("cpu", "cpu-1thread", "cpu-portable"),
                         [](const auto& info) {
                           std::string s = info.param;
                           for (char& c : s)
                             if (c == '-') c = '_';
                           return s;
                         });

}  // namespace
}  // namespace websd
