// Core pieces: half-precision conversion, the sgemm kernels, the thread pool and the static memory planner.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "backends/cpu/gemm.h"
#include "backends/cpu/gemm_choice.h"
#include "backends/profile_report.h"
#include "core/dtype.h"
#include "core/error.h"
#include "core/low_rank.h"
#include "core/memory_plan.h"
#include "fixtures.h"
#include "io/pipeline_folder.h"
#include "io/weight_source.h"
#include "models/unet.h"
#include "models/vae.h"

namespace websd {
namespace {

TEST(DType, HalfConversionRoundTripsEveryValue) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = f16_to_f32(uint16_t(h));
    if (std::isnan(f)) continue;
    ASSERT_EQ(f32_to_f16(f), h) << std::hex << h;
  }
  EXPECT_EQ(f16_to_f32(0x3c00), 1.0f);
  EXPECT_EQ(f16_to_f32(0x0001), std::ldexp(1.0f, -24));  // smallest subnormal
  EXPECT_EQ(f32_to_f16(65520.0f), 0x7c00);               // rounds to infinity
  EXPECT_EQ(bf16_to_f32(0x3f80), 1.0f);
}

void naive_gemm(bool ta, bool tb, int M, int N, int K, const std::vector<float>& A, const std::vector<float>& B,
                std::vector<float>& C, bool acc) {
  for (int i = 0; i < M; ++i)
    for (int j = 0; j < N; ++j) {
      double s = acc ? C[size_t(i * N + j)] : 0.0;
      for (int k = 0; k < K; ++k)
        s += double(ta ? A[size_t(k * M + i)] : A[size_t(i * K + k)]) * double(tb ? B[size_t(j * K + k)] : B[size_t(k * N + j)]);
      C[size_t(i * N + j)] = float(s);
    }
}

TEST(Gemm, PortableAndSystemKernelsMatchANaiveProduct) {
  ThreadPool pool(0);
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-1, 1);
  for (auto [M, N, K] : {std::tuple{1, 1, 1}, {7, 33, 5}, {96, 512, 256}, {100, 37, 300}, {13, 700, 257}})
    for (bool ta : {false, true})
      for (bool tb : {false, true})
        for (bool acc : {false, true}) {
          std::vector<float> A(size_t(M * K)), B(size_t(K * N)), C0(size_t(M * N));
          for (auto& v : A) v = u(rng);
          for (auto& v : B) v = u(rng);
          for (auto& v : C0) v = u(rng);
          std::vector<float> want = C0, portable = C0, system = C0;
          naive_gemm(ta, tb, M, N, K, A, B, want, acc);
          const auto TA = ta ? cpu::Trans::kYes : cpu::Trans::kNo, TB = tb ? cpu::Trans::kYes : cpu::Trans::kNo;
          cpu::Gemm(pool, false)(TA, TB, M, N, K, A.data(), ta ? M : K, B.data(), tb ? K : N, portable.data(), N, acc);
          cpu::Gemm(pool, true)(TA, TB, M, N, K, A.data(), ta ? M : K, B.data(), tb ? K : N, system.data(), N, acc);
          std::vector<float> serial = C0;
          const cpu::Gemm portable_gemm(pool, false);
          const cpu::Gemm::SerialScope scope(portable_gemm);
          portable_gemm.serial(scope, TA, TB, M, N, K, A.data(), ta ? M : K, B.data(), tb ? K : N, serial.data(), N, acc);
          EXPECT_LE(test::max_abs_diff(serial, want), 1e-5f * float(K));
          const float tol = 1e-5f * float(K);
          EXPECT_LE(test::max_abs_diff(portable, want), tol) << M << "x" << N << "x" << K << " ta " << ta << " tb " << tb;
          EXPECT_LE(test::max_abs_diff(system, want), tol) << M << "x" << N << "x" << K;
        }
}

// A stored weight as one operand (f16 and q8, in A's place as convolutions put it and in B's transposed as linear
// does, and the other two layouts): the portable kernel reads it as stored, the BLAS from Gemm::prepare's copy;
// both match the product of the expanded weight.
TEST(Gemm, StoredWeightOperandsMatchTheExpandedProduct) {
  ThreadPool pool(0);
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(-1, 1);
  for (auto [M, N, K] : {std::tuple{7, 33, 5}, {96, 70, 300}, {13, 40, 257}})
    for (DType dtype : {DType::kF16, DType::kI8})
      for (bool weight_is_a : {false, true})
        for (bool trans : {false, true}) {
          const int64_t rows = weight_is_a ? (trans ? K : M) : (trans ? N : K);
          const int64_t cols = weight_is_a ? (trans ? M : K) : (trans ? K : N);
          const size_t n = size_t(rows * cols);
          std::vector<uint16_t> half(n);
          std::vector<int8_t> q(n);
          std::vector<float> scales(static_cast<size_t>(rows)), expanded(n);
          for (int64_t r = 0; r < rows; ++r) {
            scales[size_t(r)] = 0.01f * float(1 + r % 5);
            for (int64_t c = 0; c < cols; ++c) {
              const size_t i = size_t(r * cols + c);
              half[i] = f32_to_f16(u(rng));
              q[i] = int8_t(int(u(rng) * 127));
              expanded[i] = dtype == DType::kF16 ? f16_to_f32(half[i]) : float(q[i]) * scales[size_t(r)];
            }
          }
          WeightData w;
          w.dtype = dtype;
          w.shape = Shape{rows, cols};
          w.data = dtype == DType::kF16 ? static_cast<const void*>(half.data()) : q.data();
          w.scales = scales.data();
          std::vector<float> other(size_t(weight_is_a ? K * N : M * K));
          for (auto& v : other) v = u(rng);
          const bool ta = weight_is_a && trans, tb = !weight_is_a && trans;
          const float* A = weight_is_a ? expanded.data() : other.data();
          const float* B = weight_is_a ? other.data() : expanded.data();
          std::vector<float> want(size_t(M * N));
          naive_gemm(ta, tb, M, N, K, std::vector<float>(A, A + M * K), std::vector<float>(B, B + K * N), want, false);
          const auto TA = ta ? cpu::Trans::kYes : cpu::Trans::kNo, TB = tb ? cpu::Trans::kYes : cpu::Trans::kNo;
          const int64_t lda = ta ? M : K, ldb = tb ? K : N;
          for (bool blas : {false, true}) {
            const cpu::Gemm gemm(pool, blas && cpu::have_blas());
            std::vector<float> scratch(gemm.expansion_floats(dtype, rows * cols)), got(size_t(M * N));
            cpu::GemmOperand a{A, nullptr, lda}, b{B, nullptr, ldb};
            if (weight_is_a) a = gemm.prepare({nullptr, &w, lda}, scratch.data());
            if (!weight_is_a) b = gemm.prepare({nullptr, &w, ldb}, scratch.data());
            gemm(TA, TB, M, N, K, a, b, got.data(), N, false);
            EXPECT_LE(test::max_abs_diff(got, want), 1e-5f * float(K))
                << gemm.name() << " " << dtype_name(dtype) << (weight_is_a ? " A" : " B") << (trans ? "ᵀ " : " ")
                << M << "x" << N << "x" << K;
          }
        }
}

// The measured sgemm choice is written to its cache file and read back from it; a file that is not JSON is
// measured again and rewritten. (Where the build has no BLAS there is nothing to choose.)
TEST(Gemm, MeasuredChoiceIsCachedPerMachine) {
  if (!cpu::have_blas()) GTEST_SKIP() << "this build has no BLAS";
  EXPECT_THROW(cpu::parse_sgemm_request("fastest"), Error);
  ThreadPool pool(2);
  const std::string dir = ::testing::TempDir() + "/websd-sgemm-" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/sgemm.json";
  const cpu::SgemmChoice first = cpu::measured_sgemm(pool, path);
  EXPECT_EQ(first.why.rfind("measured: ", 0), 0u) << first.why;
  const cpu::SgemmChoice again = cpu::measured_sgemm(pool, path);
  EXPECT_EQ(again.why.rfind("cached in " + path, 0), 0u) << again.why;
  EXPECT_EQ(again.blas, first.blas);
  std::ofstream(path) << "{ not json";
  EXPECT_EQ(cpu::measured_sgemm(pool, path).why.rfind("measured: ", 0), 0u);
  EXPECT_EQ(cpu::measured_sgemm(pool, path).why.rfind("cached in ", 0), 0u);
  std::filesystem::remove_all(dir);
}

TEST(ThreadPool, CoversTheRangeExactlyOnce) {
  ThreadPool pool(4);
  for (int64_t n : {1, 3, 4, 1000, 12345}) {
    std::vector<int> hits(size_t(n), 0);
    pool.parallel_for(n, [&](int64_t b, int64_t e, int) {
      for (int64_t i = b; i < e; ++i) hits[size_t(i)]++;
    });
    for (int h : hits) ASSERT_EQ(h, 1);
  }
}

// No two buffers that are alive at the same time may share bytes.
void expect_valid_plan(const Graph& g, const MemoryPlan& plan) {
  const auto& nodes = g.nodes();
  const int n = int(nodes.size());
  std::vector<int> last(size_t(n), -1);
  for (int i = 0; i < n; ++i)
    for (TensorId t : nodes[size_t(i)].inputs) last[size_t(t)] = std::max(last[size_t(t)], i);
  for (TensorId t : g.outputs()) last[size_t(t)] = n;
  for (TensorId t : g.inputs()) last[size_t(t)] = n;
  struct Live {
    int first, last;
    int64_t lo, hi;
  };
  std::vector<Live> live;
  for (int i = 0; i < n; ++i) {
    if (nodes[size_t(i)].op == Op::kWeight) continue;
    const int64_t bytes = nodes[size_t(i)].shape.numel() * int64_t(dtype_size(nodes[size_t(i)].dtype));
    ASSERT_GE(plan.offset[size_t(i)], 0);
    ASSERT_EQ(plan.offset[size_t(i)] % int64_t(MemoryPlan::kAlignment), 0);
    live.push_back({nodes[size_t(i)].op == Op::kInput ? 0 : i, std::max(last[size_t(i)], i), plan.offset[size_t(i)],
                    plan.offset[size_t(i)] + bytes});
    if (plan.scratch_offset[size_t(i)] >= 0)
      live.push_back({i, i, plan.scratch_offset[size_t(i)], plan.scratch_offset[size_t(i)] + int64_t(plan.scratch_size[size_t(i)])});
  }
  for (size_t a = 0; a < live.size(); ++a)
    for (size_t b = a + 1; b < live.size(); ++b) {
      const bool time = live[a].first <= live[b].last && live[b].first <= live[a].last;
      const bool space = live[a].lo < live[b].hi && live[b].lo < live[a].hi;
      ASSERT_FALSE(time && space) << "buffers " << a << " and " << b << " overlap";
    }
  for (const Live& l : live) ASSERT_LE(size_t(l.hi), plan.arena_bytes);
}

// Synthesized weights keep one owner per tensor while they live, as a file does: a network built again (every
// generate() builds its UNet) is the same weights to the webgpu backend's cache, which then uploads nothing. (It
// did not: every image of `bench-node.mjs --generate` synthesized and uploaded SD 1.5's 1.6 GiB again, 29 s on
// the H200 before its first step.)
TEST(RandomWeights, OneOwnerPerTensorAcrossBuilds) {
  RandomWeights weights(DType::kF16);
  const WeightData a = weights.get("down.0.weight", Shape{8, 4}), again = weights.get("down.0.weight", Shape{8, 4});
  EXPECT_EQ(a.owner, again.owner);
  EXPECT_NE(a.owner, weights.get("down.1.weight", Shape{8, 4}).owner);
  EXPECT_NE(a.owner, RandomWeights(DType::kF16).get("down.0.weight", Shape{8, 4}).owner);
  const WeightData x = resident(a), y = resident(again);
  ASSERT_TRUE(x.data && y.data);
  EXPECT_EQ(std::memcmp(x.data, y.data, 8 * 4 * 2), 0);  // and the same values
}

TEST(MemoryPlan, AChainNeedsOnlyTwoBuffers) {
  Graph g;
  TensorId x = g.input("x", Shape{1024});
  for (int i = 0; i < 10; ++i) x = ops::silu(g, x);
  g.mark_output(x, "y");
  MemoryPlan plan = plan_memory(g, [](const Node&) { return size_t(0); });
  expect_valid_plan(g, plan);
  EXPECT_EQ(plan.arena_bytes, 3 * 4096u);  // the input stays for reruns; the chain ping-pongs between two
  EXPECT_EQ(plan.unplanned_bytes, 11 * 4096u);
}

TEST(MemoryPlan, RealNetworksArePlannedWithoutOverlaps) {
  auto p = PipelineFolder::open(test::fixture("tiny-sd2/model"));
  auto uw = p.weights("unet");
  auto unet = build_unet(UNetConfig::from(p.config("unet")), *uw, 2, 8, 8);
  MemoryPlan plan = plan_memory(*unet.graph, [](const Node& n) { return n.op == Op::kConv2d ? size_t(1000) : 0; });
  expect_valid_plan(*unet.graph, plan);
  EXPECT_LT(plan.arena_bytes * 4, plan.unplanned_bytes);
  std::printf("  tiny-sd2 UNet: planned %zu bytes, %zu without planning\n", plan.arena_bytes, plan.unplanned_bytes);
  auto vw = p.weights("vae");
  auto vae = build_vae_decoder(VaeConfig::from(p.config("vae")), *vw, 1, 8, 8);
  MemoryPlan vplan = plan_memory(*vae.graph, [](const Node&) { return size_t(0); });
  expect_valid_plan(*vae.graph, vplan);
}

TEST(ProfileReport, GroupsStepsByKernelAndShapeLargestFirst) {
  std::vector<ProfiledStep> steps{{"conv2d 3x3 v1", "M=320 N=8192 K=2880", 2e9, 1e6, 1.0},
                                  {"add", "[2, 320, 64, 64]", 0, 2e7, 0.25},
                                  {"conv2d 3x3 v1", "M=320 N=8192 K=2880", 2e9, 1e6, 3.0},
                                  {"conv2d 3x3 v1", "M=640 N=2048 K=5760", 4e9, 1e6, 2.0}};
  const ProfileReport r = summarize_profile(steps);
  EXPECT_EQ(r.steps, 4);
  EXPECT_DOUBLE_EQ(r.total_ms, 6.25);
  ASSERT_EQ(r.rows.size(), 3u);
  EXPECT_EQ(r.rows[0].shape, "M=320 N=8192 K=2880");
  EXPECT_EQ(r.rows[0].count, 2);
  EXPECT_DOUBLE_EQ(r.rows[0].ms, 4.0);
  EXPECT_DOUBLE_EQ(r.rows[0].flops, 4e9);
  EXPECT_EQ(r.rows[2].kernel, "add");
  const std::string table = format_profile(r, 6.5, 2);
  EXPECT_NE(table.find("1.0 TFLOP/s"), std::string::npos) << table;  // 4 GFLOP in 4 ms
  EXPECT_NE(table.find("(1 more rows)"), std::string::npos) << table;
  EXPECT_NE(table.find("96.2% of it"), std::string::npos) << table;
  const std::string json = profile_json(r, 6.5);
  EXPECT_NE(json.find("\"count\": 2"), std::string::npos) << json;
}

// A low-rank sum computed on the host is W + up · down in the storage type asked for (f16 rounded once, q8
// re-quantised per row), and factors that do not fit the weight are refused.
TEST(LowRank, HostSumIsTheWeightPlusTheProduct) {
  const int64_t N = 3, K = 5, R = 2;
  auto base = std::make_shared<std::vector<float>>(N * K);
  for (int64_t i = 0; i < N * K; ++i) (*base)[size_t(i)] = 0.1f * float(i) - 0.7f;
  auto sum = std::make_shared<LowRankSum>();
  sum->base = WeightData{"w", DType::kF32, Shape{N, K}, base->data(), base};
  sum->rank = R;
  for (int64_t i = 0; i < N * R; ++i) sum->up.push_back(0.25f * float(i % 3) - 0.2f);
  for (int64_t i = 0; i < R * K; ++i) sum->down.push_back(0.5f - 0.15f * float(i));
  std::vector<double> want(size_t(N * K));
  for (int64_t n = 0; n < N; ++n)
    for (int64_t k = 0; k < K; ++k) {
      double d = 0;
      for (int64_t r = 0; r < R; ++r) d += double(sum->up[size_t(n * R + r)]) * double(sum->down[size_t(r * K + k)]);
      want[size_t(n * K + k)] = double((*base)[size_t(n * K + k)]) + d;
    }
  for (DType dt : {DType::kF32, DType::kF16, DType::kI8}) {
    const WeightData w = low_rank_sum("w", sum, dt);
    EXPECT_EQ(w.data, nullptr);  // computed where it is needed
    ASSERT_TRUE(w.low_rank);
    const WeightData host = resident(w);
    ASSERT_EQ(host.dtype, dt);
    std::vector<float> got(size_t(N * K));
    expand_weight(host, 0, got.size(), got.data());
    for (int64_t n = 0; n < N; ++n) {
      double row_max = 0;
      for (int64_t k = 0; k < K; ++k) row_max = std::max(row_max, std::abs(want[size_t(n * K + k)]));
      const double tolerance = dt == DType::kF32 ? 1e-6 : dt == DType::kF16 ? 1e-3 : row_max / 127 / 2 + 1e-6;
      for (int64_t k = 0; k < K; ++k) EXPECT_NEAR(got[size_t(n * K + k)], want[size_t(n * K + k)], tolerance) << dtype_name(dt);
    }
    EXPECT_EQ(resident(w).data, host.data);  // computed once
  }
  auto bad = std::make_shared<LowRankSum>(*sum);
  bad->down.pop_back();
  EXPECT_THROW(low_rank_sum("w", bad, DType::kF32), Error);
}

}  // namespace
}  // namespace websd
