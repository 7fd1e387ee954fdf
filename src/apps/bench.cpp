// `websd bench`: times the real SD 1.5 architecture (weights synthesized, so no files are needed) on the cpu
// backend and puts the UNet's throughput next to the machine's own sgemm throughput measured in the same run.
#include "apps/bench.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include "apps/process_stats.h"
#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/gemm.h"
#include "models/clip_text_encoder.h"
#include "models/unet.h"
#include "models/vae.h"

namespace websd {
namespace {

struct BenchOptions {
  int threads = 0;
  int width = 512, height = 512;
  int batch = 2;
  int runs = 1;
  std::string dtype = "f16";
  std::string sgemm = "auto";
  std::vector<std::string> only;
};

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

double sgemm_gflops(ThreadPool& pool, bool portable) {
  const cpu::Gemm gemm(pool, portable);
  const int64_t n = 2048;
  std::vector<float> a(size_t(n * n), 0.5f), b(size_t(n * n), 0.25f), c(size_t(n * n));
  double best = 1e30;
  for (int i = 0; i < 3; ++i) {
    auto t0 = Clock::now();
    gemm(cpu::Trans::kNo, cpu::Trans::kNo, n, n, n, a.data(), n, b.data(), n, c.data(), n, false);
    best = std::min(best, ms_since(t0));
  }
  return 2.0 * double(n * n * n) / (best * 1e6);
}

struct Timing {
  double ms = 0;
  size_t arena = 0;
  double gflop = 0;
};

// Compiles, fills inputs with a constant, runs `runs` times and keeps the best time. The executable (and its
// arena) is freed before returning, as the pipeline does between networks.
Timing time_graph(Backend& backend, std::shared_ptr<const Graph> g, int runs) {
  auto exe = backend.compile(g);
  for (TensorId id : g->inputs()) {
    const Node& n = g->node(id);
    if (n.dtype == DType::kI32) {
      std::vector<int32_t> ids(size_t(n.shape.numel()), 49407);
      exe->set_input(id, ids.data());
    } else {
      std::vector<float> x(size_t(n.shape.numel()), 0.1f);
      exe->set_input(id, x.data());
    }
  }
  Timing t{1e30, exe->plan().arena_bytes, g->flops() / 1e9};
  for (int i = 0; i < runs; ++i) {
    auto t0 = Clock::now();
    exe->run();
    t.ms = std::min(t.ms, ms_since(t0));
  }
  return t;
}

bool wanted(const BenchOptions& o, const char* name) {
  return o.only.empty() || std::find(o.only.begin(), o.only.end(), name) != o.only.end();
}

int run_bench(const BenchOptions& o) {
  const bool portable = o.sgemm == "portable";
  auto backend = make_cpu_backend(CpuOptions{o.threads, false, portable});
  ThreadPool pool(o.threads);
  const DType wt = o.dtype == "f32" ? DType::kF32 : DType::kF16;
  RandomWeights weights(wt);
  std::printf("websd bench: SD 1.5 architecture, random %s weights, %dx%d, %s, %d threads\n", o.dtype.c_str(),
              o.width, o.height, backend->name().c_str(), pool.size());
  // The reference throughput: a large square sgemm of the implementation the networks use, same run, same threads.
  const double gemm = sgemm_gflops(pool, portable);
  std::printf("  sgemm 2048^3 (%-9s)          %8.1f GFLOP/s\n", cpu::Gemm(pool, portable).name(), gemm);
  if (cpu::have_blas() && !portable)
    std::printf("  sgemm 2048^3 (portable )          %8.1f GFLOP/s\n", sgemm_gflops(pool, true));

  // All three networks keep their weights for the whole run, as a generating process does; only one
  // activation arena is alive at a time.
  auto text = build_clip_text_encoder(ClipTextConfig::sd15(), weights, o.batch);
  auto unet = build_unet(UNetConfig::sd15(), weights, o.batch, o.height / 8, o.width / 8);
  auto vae = build_vae_decoder(VaeConfig::sd15(), weights, 1, o.height / 8, o.width / 8);
  const double weight_mib =
      double(text.graph->weight_bytes() + unet.graph->weight_bytes() + vae.graph->weight_bytes()) / (1 << 20);
  std::printf("  weights in memory                %8.0f MiB\n", weight_mib);

  if (wanted(o, "text")) {
    Timing t = time_graph(*backend, text.graph, o.runs);
    std::printf("  text encoder (batch %d)          %8.1f ms   arena %6.1f MiB\n", o.batch, t.ms, t.arena / 1048576.0);
  }
  if (wanted(o, "unet")) {
    Timing t = time_graph(*backend, unet.graph, o.runs);
    const double gflops = t.gflop / (t.ms / 1e3);
    std::printf("  UNet call (batch %d)             %8.1f ms   arena %6.1f MiB   %.0f GFLOP -> %.1f GFLOP/s = %.0f%% of sgemm\n",
                o.batch, t.ms, t.arena / 1048576.0, t.gflop, gflops, 100.0 * gflops / gemm);
  }
  if (wanted(o, "vae")) {
    Timing t = time_graph(*backend, vae.graph, o.runs);
    std::printf("  VAE decode (batch 1)             %8.1f ms   arena %6.1f MiB   %.0f GFLOP -> %.1f GFLOP/s\n", t.ms,
                t.arena / 1048576.0, t.gflop, t.gflop / (t.ms / 1e3));
  }
  std::printf("  peak host RSS                    %8.0f MiB\n", double(peak_rss_bytes()) / (1 << 20));
  return 0;
}

}  // namespace

void add_bench_command(CLI::App& app, int& exit_code) {
  auto opts = std::make_shared<BenchOptions>();
  CLI::App* cmd = app.add_subcommand("bench", "Time the SD 1.5 networks with synthesized weights (no files needed)");
  cmd->add_option("--threads", opts->threads, "Worker threads (default: all cores, or WEBSD_THREADS)");
  cmd->add_option("--width", opts->width, "Image width in pixels")->check(CLI::PositiveNumber);
  cmd->add_option("--height", opts->height, "Image height in pixels")->check(CLI::PositiveNumber);
  cmd->add_option("--batch", opts->batch, "UNet and text-encoder batch (2 = classifier-free guidance)")
      ->check(CLI::Range(1, 64));
  cmd->add_option("--runs", opts->runs, "Runs per network; the best is reported")->check(CLI::Range(1, 100));
  cmd->add_option("--dtype", opts->dtype, "Weight storage type")->check(CLI::IsMember({"f16", "f32"}));
  cmd->add_option("--sgemm", opts->sgemm, "auto (system BLAS where linked) or portable (the wasm kernel)")
      ->check(CLI::IsMember({"auto", "portable"}));
  cmd->add_option("--only", opts->only, "Networks to time: text, unet, vae (default: all)")
      ->check(CLI::IsMember({"text", "unet", "vae"}));
  cmd->callback([opts, &exit_code] {
    if (opts->width % 8 || opts->height % 8) throw CLI::ValidationError("--width/--height", "must be multiples of 8");
    exit_code = run_bench(*opts);
  });
}

}  // namespace websd
