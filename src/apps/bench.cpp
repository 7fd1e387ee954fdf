// `websd bench`: times the real SD 1.5 architecture (weights synthesized, so no files are needed) on the cpu
// backend and puts the UNet's throughput next to the machine's own sgemm throughput measured in the same run.
#include "apps/bench.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <vector>

#include "apps/process_stats.h"
#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/gemm.h"
#include "backends/network_timing.h"
#include "core/error.h"
#include "io/pack.h"
#include "models/architectures.h"
#include "models/controlnet.h"

namespace websd {
namespace {

struct BenchOptions {
  std::string arch = "sd15";
  bool sizes = false;
  int threads = 0;
  int width = 0, height = 0;  // 0: the architecture's native size
  int batch = 2;
  int runs = 1;
  std::string dtype = "f16";
  std::string sgemm = "auto";
  std::string winograd = "auto";
  std::vector<std::string> only;
  bool controlnet = false;  // the UNet with one ControlNet of its architecture
  std::string json;         // where to write the results as JSON too ("" = nowhere)
};

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

double sgemm_gflops(ThreadPool& pool, bool blas) {
  const cpu::Gemm gemm(pool, blas);
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

bool wanted(const BenchOptions& o, const char* name) {
  return o.only.empty() || std::find(o.only.begin(), o.only.end(), name) != o.only.end();
}

// Pack sizes (f16 and q8, by the converter's rules) and the memory a GPU needs: all weights resident plus the
// largest activation arena the planner lays out (text encoders and UNet at batch 2, VAE decode at batch 1).
void print_sizes(const Architecture& arch, const std::vector<std::pair<std::string, std::shared_ptr<const Graph>>>& nets) {
  std::printf("  %-16s %10s %10s %10s %12s\n", "network", "params", "f16 pack", "q8 pack", "arena");
  double f16_total = 0, q8_total = 0, arena_max = 0;
  for (const auto& [name, g] : nets) {
    double params = 0, f16 = 0, q8 = 0;
    for (const auto& w : g->weights()) {
      const double n = double(w.shape.numel());
      params += n;
      f16 += 2 * n;
      q8 += q8_quantizable(w.name, w.shape) ? n + 4.0 * double(w.shape[0]) : 2 * n;
    }
    const double arena = double(plan_memory(*g, [](const Node&) { return size_t(0); }).arena_bytes);
    std::printf("  %-16s %9.0fM %7.0f MiB %6.0f MiB %8.0f MiB\n", name.c_str(), params / 1e6, f16 / 1048576,
                q8 / 1048576, arena / 1048576);
    f16_total += f16;
    q8_total += q8;
    arena_max = std::max(arena_max, arena);
  }
  std::printf("  %s pack: f16 %.0f MiB, q8 %.0f MiB (%.0f%%); GPU memory planned at %dx%d: weights + largest arena"
              " = %.0f MiB (f16), %.0f MiB (q8)\n",
              arch.name.c_str(), f16_total / 1048576, q8_total / 1048576, 100 * q8_total / f16_total,
              arch.native_size, arch.native_size, (f16_total + arena_max) / 1048576, (q8_total + arena_max) / 1048576);
}

int run_bench(const BenchOptions& o) {
  const Architecture arch = architecture(o.arch);
  const int width = o.width ? o.width : arch.native_size, height = o.height ? o.height : arch.native_size;
  // q8: int8 with per-row scales where `websd convert --dtype q8` quantizes, f16 elsewhere (RandomWeights).
  const DType wt = o.dtype == "f32" ? DType::kF32 : o.dtype == "q8" ? DType::kI8 : DType::kF16;
  RandomWeights weights(wt);
  // All networks keep their weights for the whole run, as a generating process does; only one activation
  // arena is alive at a time.
  std::vector<std::pair<std::string, std::shared_ptr<const Graph>>> nets;
  for (size_t i = 0; i < arch.text_encoders.size(); ++i)
    nets.emplace_back(i ? "text encoder 2" : "text encoder",
                      build_clip_text_encoder(arch.text_encoders[i], weights, o.batch).graph);
  const int lh = height / arch.vae.downscale(), lw = width / arch.vae.downscale();  // latent size
  // With --controlnet the UNet runs with one ControlNet of its architecture, in one graph; --sizes lists the
  // ControlNet on its own.
  const ControlNetConfig control = ControlNetConfig::for_unet(arch.unet);
  if (o.controlnet && o.sizes)
    nets.emplace_back("controlnet", build_controlnet(control, weights, arch.unet, o.batch, lh, lw).graph);
  if (o.controlnet && !o.sizes)
    nets.emplace_back("unet+controlnet",
                      build_controlled_unet(arch.unet, weights, {{&control, &weights}}, o.batch, lh, lw).graph);
  else
    nets.emplace_back("unet", build_unet(arch.unet, weights, o.batch, lh, lw).graph);
  nets.emplace_back("vae decoder", build_vae_decoder(arch.vae, weights, 1, lh, lw).graph);
  if (o.sizes) {
    std::printf("websd bench --sizes: %s architecture at %dx%d\n", arch.name.c_str(), width, height);
    print_sizes(arch, nets);
    if (o.controlnet) {
      const auto both = build_controlled_unet(arch.unet, weights, {{&control, &weights}}, o.batch, lh, lw).graph;
      std::printf("  the UNet with the ControlNet (one graph): arena %.0f MiB\n",
                  double(plan_memory(*both, [](const Node&) { return size_t(0); }).arena_bytes) / 1048576);
    }
    return 0;
  }

  CpuOptions cpu_options;
  cpu_options.threads = o.threads;
  cpu_options.sgemm = cpu::parse_sgemm_request(o.sgemm);
  cpu_options.winograd = o.winograd == "auto" ? -1 : o.winograd == "on" ? 1 : 0;
  auto backend = make_cpu_backend(cpu_options);
  ThreadPool pool(o.threads);
  std::printf("websd bench: %s architecture, random %s weights, %dx%d, %s, %d threads\n", arch.name.c_str(),
              o.dtype.c_str(), width, height, backend->name().c_str(), pool.size());
  std::printf("  %s\n", backend->choices().c_str());
  // The reference throughput: a large square sgemm of the implementation the networks use, same run, same threads.
  const bool blas = cpu::choose_sgemm(pool, cpu_options.sgemm).blas;  // the backend's choice (kept per process)
  const double gemm = sgemm_gflops(pool, blas);
  std::printf("  sgemm 2048^3 (%-9s)          %8.1f GFLOP/s\n", cpu::Gemm(pool, blas).name(), gemm);
  nlohmann::json report = {{"arch", arch.name}, {"width", width}, {"height", height}, {"threads", pool.size()},
                           {"weights", o.dtype}, {"backend", backend->name()}, {"choices", backend->choices()},
                           {"sgemm_gflops", {{cpu::Gemm(pool, blas).name(), gemm}}}};
  if (cpu::have_blas()) {
    const double other = sgemm_gflops(pool, !blas);
    std::printf("  sgemm 2048^3 (%-9s)          %8.1f GFLOP/s\n", cpu::Gemm(pool, !blas).name(), other);
    report["sgemm_gflops"][cpu::Gemm(pool, !blas).name()] = other;
  }
  double weight_bytes = 0;
  for (const auto& [name, g] : nets) weight_bytes += double(g->weight_bytes());
  std::printf("  weights in memory                %8.0f MiB\n", weight_bytes / (1 << 20));

  for (const auto& [name, g] : nets) {
    const bool is_text = name.starts_with("text");
    const char* key = is_text ? "text" : name.starts_with("unet") ? "unet" : name == "controlnet" ? "unet" : "vae";
    if (!wanted(o, key)) continue;
    const NetworkTiming t = time_network(*backend, g, o.runs, /*warmup=*/false);
    const int batch = name == "vae decoder" ? 1 : o.batch;
    report["networks"][name] = {{"ms", t.run_ms}, {"batch", batch}, {"gflop", t.gflop},
                                {"arena_bytes", t.arena_bytes}};
    std::printf("  %-16s (batch %d)        %8.1f ms   arena %6.1f MiB", name.c_str(), batch, t.run_ms, double(t.arena_bytes) / 1048576.0);
    if (t.gflop > 0) {
      const double gflops = t.gflop / (t.run_ms / 1e3);
      std::printf("   %.0f GFLOP -> %.1f GFLOP/s", t.gflop, gflops);
      if (name.starts_with("unet")) std::printf(" = %.0f%% of sgemm", 100.0 * gflops / gemm);
    }
    std::printf("\n");
  }
  std::printf("  peak host RSS                    %8.0f MiB\n", double(peak_rss_bytes()) / (1 << 20));
  report["peak_rss_bytes"] = peak_rss_bytes();
  if (!o.json.empty()) {
    std::ofstream out(o.json);
    out << report.dump(2) << "\n";
    if (!out) throw Error(ErrorCode::kNotFound, "cannot write " + o.json);
  }
  return 0;
}

}  // namespace

void add_bench_command(CLI::App& app, int& exit_code) {
  auto opts = std::make_shared<BenchOptions>();
  CLI::App* cmd = app.add_subcommand("bench", "Time the networks of a real architecture with synthesized weights");
  cmd->add_option("--arch", opts->arch, "Architecture: sd15, sd21, sdxl, or a model's path (its configs, random weights)")
      ->capture_default_str();
  cmd->add_flag("--sizes", opts->sizes, "Only report pack sizes (f16, q8) and planned memory; no timing");
  cmd->add_option("--threads", opts->threads, "Worker threads (default: all cores, or WEBSD_THREADS)");
  cmd->add_option("--width", opts->width, "Image width in pixels (default: the architecture's native size)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--height", opts->height, "Image height in pixels (default: the architecture's native size)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--batch", opts->batch, "UNet and text-encoder batch (2 = classifier-free guidance)")
      ->check(CLI::Range(1, 64));
  cmd->add_option("--runs", opts->runs, "Runs per network; the best is reported")->check(CLI::Range(1, 100));
  cmd->add_option("--dtype", opts->dtype, "Weight storage type (q8 as `websd convert --dtype q8` stores them)")
      ->check(CLI::IsMember({"f16", "q8", "f32"}));
  cmd->add_option("--sgemm", opts->sgemm,
                  "auto (the faster of the system BLAS and the portable kernel on this machine, timed once and "
                  "cached), portable (the wasm kernel) or blas")
      ->check(CLI::IsMember({"auto", "portable", "blas"}));
  cmd->add_option("--winograd", opts->winograd,
                  "3x3 convolutions as Winograd F(4x4,3x3): auto (where it measured faster), on (wherever it "
                  "applies) or off")
      ->check(CLI::IsMember({"auto", "on", "off"}));
  cmd->add_flag("--controlnet", opts->controlnet,
                "Time the UNet with one ControlNet of the architecture (and, with --sizes, the ControlNet's own size)");
  cmd->add_option("--json", opts->json, "Also write the results to this JSON file");
  cmd->add_option("--only", opts->only, "Networks to time: text, unet, vae (default: all)")
      ->check(CLI::IsMember({"text", "unet", "vae"}));
  cmd->callback([opts, &exit_code] {
    if (opts->width % 8 || opts->height % 8) throw CLI::ValidationError("--width/--height", "must be multiples of 8");
    exit_code = run_bench(*opts);
  });
}

}  // namespace websd
