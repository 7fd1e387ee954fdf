// TorchGenerator against torch.randn(shape, generator=torch.Generator().manual_seed(seed)) on the CPU.
#include <cstdio>
#include <string>
#include <vector>

#include "fixtures.h"
#include "io/safetensors.h"
#include "sampling/torch_rng.h"

namespace websd {
namespace {

// Every rng_randn_seed{S}_{shape} tensor in the fixtures (numel >= 16: torch's vectorised Box-Muller path).
TEST(TorchRng, MatchesTorchRandnFixtures) {
  int checked = 0;
  for (const char* model : {"tiny-sd1", "tiny-sd2"}) {
    SafetensorsFile ref = SafetensorsFile::open(test::fixture(std::string(model) + "/reference.safetensors"));
    for (const auto& [name, view] : ref.tensors()) {
      if (name.rfind("rng_randn_seed", 0) != 0) continue;
      // rng_randn_seed{S}_{shape}
      std::string rest = name.substr(std::string("rng_randn_seed").size());
      uint64_t seed = std::stoull(rest.substr(0, rest.find('_')));
      std::vector<float> want = view.to_f32();
      ASSERT_EQ(int64_t(want.size()), view.shape.numel());

      TorchGenerator gen(seed);
      std::vector<float> got = gen.randn(want.size());
      float err = test::max_abs_diff(got, want);
      size_t exact = 0;
      for (size_t i = 0; i < want.size(); ++i) exact += got[i] == want[i];
      std::printf("%s/%s: max abs error %.3g, %zu/%zu bit-identical\n", model, name.c_str(), err, exact,
                  want.size());
      EXPECT_LE(err, 1e-6f) << name;
      ++checked;
    }
  }
  EXPECT_EQ(checked, 16);
}

// numel < 16 takes torch's scalar path (normal_distribution<double>). Values as torch prints them:
//   torch.manual_seed(0);  torch.randn(2, 3)  and  torch.manual_seed(42); torch.randn(2, 3)
TEST(TorchRng, SmallTensorsUseTheScalarPath) {
  std::vector<float> seed0 = TorchGenerator(0).randn(6);
  std::vector<float> seed42 = TorchGenerator(42).randn(6);
  EXPECT_LE(test::max_abs_diff(seed0, {1.5410f, -0.2934f, -2.1788f, 0.5684f, -1.0845f, -1.3986f}), 5e-5f);
  EXPECT_LE(test::max_abs_diff(seed42, {0.3367f, 0.1288f, 0.2345f, 0.2303f, -1.1229f, -0.1863f}), 5e-5f);
}

TEST(TorchRng, SeedUsesLow32Bits) {
  EXPECT_EQ(TorchGenerator(4294967303ull).randn(64), TorchGenerator(7).randn(64));
  EXPECT_EQ(TorchGenerator(5).randn(3), TorchGenerator((1ull << 40) + 5).randn(3));
}

TEST(TorchRng, SuccessiveCallsContinueTheStream) {
  // Block-aligned tensor draws consume exactly numel uniforms, so two calls equal one call of the sum.
  TorchGenerator a(1234), b(1234);
  std::vector<float> first = a.randn(256), second = a.randn(256), both = b.randn(512);
  EXPECT_EQ(first, std::vector<float>(both.begin(), both.begin() + 256));
  EXPECT_EQ(second, std::vector<float>(both.begin() + 256, both.end()));

  // The scalar path caches Box-Muller's second value in the generator: randn(3) twice == randn(6).
  TorchGenerator c(0), d(0);
  std::vector<float> x = c.randn(3), y = c.randn(3), xy = d.randn(6);
  x.insert(x.end(), y.begin(), y.end());
  EXPECT_EQ(x, xy);

  // A tail that is not a multiple of 16 draws 16 extra uniforms: randn(20) consumes 36.
  TorchGenerator e(9), f(9);
  e.randn(20);
  for (int i = 0; i < 36; ++i) f.random();
  EXPECT_EQ(e.randn(32), f.randn(32));

  // manual_seed restarts the stream and forgets the cached scalar sample.
  TorchGenerator g(0);
  std::vector<float> one = g.randn(1);
  g.manual_seed(0);
  EXPECT_EQ(g.randn(1), one);
}

TEST(TorchRng, TailOfNonMultipleOf16) {
  // The first numel - 16 outputs of a non-multiple-of-16 draw come from the regular blocks; the last 16 are
  // recomputed from fresh uniforms, so outputs [16, 20) of randn(20) differ from randn(32)'s.
  std::vector<float> a = TorchGenerator(3).randn(20), b = TorchGenerator(3).randn(32);
  EXPECT_EQ(std::vector<float>(a.begin(), a.begin() + 4), std::vector<float>(b.begin(), b.begin() + 4));
  EXPECT_NE(std::vector<float>(a.begin() + 16, a.end()), std::vector<float>(b.begin() + 16, b.begin() + 20));
  for (float v : a) EXPECT_TRUE(std::isfinite(v));
}

}  // namespace
}  // namespace websd
