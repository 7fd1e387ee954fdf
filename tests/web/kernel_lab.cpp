// The kernel lab: every numbered variant of each kernel family (backends/webgpu/kernel_choice.h) at the shapes
// real Stable Diffusion networks run (SD 1.5 at 512x512 with guidance, its VAE, SDXL at 1024x1024), each checked
// against the cpu reference and timed on the GPU, printed as one table, so that anyone can see why the shipped
// choice ("auto") wins. Run by js/kernel-lab.mjs.
//
// Checks run at the problem's own channels and K but a smaller image (at most 16x16 pixels, 256 tokens), since
// the cpu reference of a full-size VAE convolution takes minutes in wasm; timings run at the full size, median
// of the runs, from timestamp queries (Executable::profile: GPU time only).
#include <emscripten/emscripten.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <random>
#include <sstream>
#include <string>

#include "backends/cpu/cpu_backend.h"
#include "backends/webgpu/kernel_choice.h"
#include "backends/webgpu/webgpu_backend.h"
#include "io/weight_source.h"
#include "op_cases.h"
#include "wasm/host_channel.h"

namespace websd {
namespace {

struct LabCase {
  std::string family;  // gemm, attention, group_norm
  std::string name;
  // Builds the one-op graph; `small` asks for the reduced image used by the check.
  std::function<void(Graph&, const WeightSource&, bool small)> build;
};

int64_t px(int64_t full, bool small) { return small ? std::min<int64_t>(full, 16) : full; }

std::vector<LabCase> lab_cases() {
  std::vector<LabCase> cases;
  struct Conv {
    const char* what;
    int64_t batch, c, o, h, k, stride;
  };
  for (Conv c : {Conv{"sd15 unet 320ch 64x64", 2, 320, 320, 64, 3, 1}, Conv{"sd15 unet 640ch 32x32", 2, 640, 640, 32, 3, 1},
                 Conv{"sd15 unet 1280ch 16x16", 2, 1280, 1280, 16, 3, 1}, Conv{"sd15 unet 1280ch 8x8", 2, 1280, 1280, 8, 3, 1},
                 Conv{"sd15 unet 2560->1280 16x16", 2, 2560, 1280, 16, 3, 1},
                 Conv{"sd15 unet 320ch 1x1 64x64", 2, 320, 320, 64, 1, 1},
                 Conv{"sd15 unet down 320ch s2", 2, 320, 320, 64, 3, 2},
                 Conv{"vae 512ch 64x64", 1, 512, 512, 64, 3, 1}, Conv{"vae 512ch 256x256", 1, 512, 512, 256, 3, 1},
                 Conv{"vae 256ch 256x256", 1, 256, 256, 256, 3, 1}, Conv{"vae 128ch 512x512", 1, 128, 128, 512, 3, 1},
                 Conv{"vae conv_out 128->3 512x512", 1, 128, 3, 512, 3, 1},
                 Conv{"sdxl unet 640ch 64x64", 2, 640, 640, 64, 3, 1}, Conv{"sdxl unet 320ch 128x128", 2, 320, 320, 128, 3, 1}})
    cases.push_back({"gemm", std::string("conv ") + c.what, [c](Graph& g, const WeightSource& w, bool small) {
                       TensorId x = g.input("x", Shape{c.batch, c.c, px(c.h, small), px(c.h, small)});
                       TensorId wt = g.weight(w.get("w", Shape{c.o, c.c, c.k, c.k}));
                       TensorId b = g.weight(w.get("b.bias", Shape{c.o}));
                       g.mark_output(ops::conv2d(g, x, wt, b, int(c.stride), int(c.k / 2)), "y");
                     }});
  struct Lin {
    const char* what;
    int64_t tokens, k, n;
  };
  for (Lin l : {Lin{"sd15 attn q 64x64", 8192, 320, 320}, Lin{"sd15 ff proj 64x64", 8192, 320, 2560},
                Lin{"sd15 ff out 64x64", 8192, 1280, 320}, Lin{"sd15 attn q 16x16", 512, 1280, 1280},
                Lin{"sd15 cross k/v", 154, 768, 320}, Lin{"sdxl ff proj 32x32", 2048, 1280, 10240},
                Lin{"sdxl attn q 32x32", 2048, 1280, 1280}, Lin{"sdxl ff out 32x32", 2048, 5120, 1280},
                Lin{"sdxl cross k/v", 154, 2048, 1280}, Lin{"sdxl attn q 64x64", 8192, 640, 640}})
    cases.push_back({"gemm", std::string("linear ") + l.what, [l](Graph& g, const WeightSource& w, bool small) {
                       TensorId x = g.input("x", Shape{1, small ? std::min<int64_t>(l.tokens, 256) : l.tokens, l.k});
                       TensorId wt = g.weight(w.get("w", Shape{l.n, l.k}));
                       TensorId b = g.weight(w.get("b.bias", Shape{l.n}));
                       g.mark_output(ops::linear(g, x, wt, b), "y");
                     }});
  struct Attn {
    const char* what;
    int64_t batch, lq, lk, heads, d;
  };
  for (Attn a : {Attn{"sd15 self 64x64", 2, 4096, 4096, 8, 40}, Attn{"sd15 cross 64x64", 2, 4096, 77, 8, 40},
                 Attn{"sd15 self 32x32", 2, 1024, 1024, 8, 80}, Attn{"sd15 self 16x16", 2, 256, 256, 8, 160},
                 Attn{"vae mid 64x64", 1, 4096, 4096, 1, 512}, Attn{"sdxl self 64x64", 2, 4096, 4096, 10, 64},
                 Attn{"sdxl self 32x32", 2, 1024, 1024, 20, 64},
                 Attn{"text encoder", 2, 77, 77, 12, 64}})
    cases.push_back({"attention", std::string("attention ") + a.what, [a](Graph& g, const WeightSource&, bool small) {
                       const int64_t lq = small ? std::min<int64_t>(a.lq, 256) : a.lq;
                       const int64_t lk = small ? std::min<int64_t>(a.lk, 256) : a.lk;
                       TensorId q = g.input("q", Shape{a.batch, lq, a.heads * a.d});
                       TensorId k = g.input("k", Shape{a.batch, lk, a.heads * a.d});
                       TensorId v = g.input("v", Shape{a.batch, lk, a.heads * a.d});
                       const bool causal = std::string(a.what) == "text encoder";
                       g.mark_output(ops::attention(g, q, k, v, int(a.heads), 1.0f / std::sqrt(float(a.d)), causal), "y");
                     }});
  struct Norm {
    const char* what;
    int64_t batch, c, h;
  };
  for (Norm n : {Norm{"sd15 unet 320ch 64x64", 2, 320, 64}, Norm{"sd15 unet 1280ch 8x8", 2, 1280, 8},
                 Norm{"vae 512ch 256x256", 1, 512, 256}, Norm{"vae 128ch 512x512", 1, 128, 512}})
    cases.push_back({"group_norm", std::string("group_norm ") + n.what, [n](Graph& g, const WeightSource& w, bool small) {
                       TensorId x = g.input("x", Shape{n.batch, n.c, px(n.h, small), px(n.h, small)});
                       TensorId gamma = g.weight(w.get("norm.weight", Shape{n.c}));
                       TensorId beta = g.weight(w.get("norm.bias", Shape{n.c}));
                       g.mark_output(ops::group_norm(g, x, gamma, beta, 32, 1e-6f, Act::kSilu), "y");
                     }});
  return cases;
}

// The kernel choices a case is timed under: "auto" (what the lowering picks by itself), then every numbered
// variant of its family, and for GEMMs the larger tiles with K split in slices.
// Convolutions: the direct kernels with Winograd off, then Winograd with the GEMM core tiles of its products.
std::vector<std::string> choices_of(const LabCase& c) {
  const std::string& family = c.family;
  std::vector<std::string> out{family + "=auto"};
  const int n = family == "gemm" ? webgpu::kGemmVariants
                : family == "attention" ? webgpu::kAttentionVariants
                                        : webgpu::kGroupNormVariants;
  const bool conv = c.name.starts_with("conv");
  const std::string direct = conv ? ",winograd=0" : "";
  for (int v = 0; v < n; ++v) out.push_back(family + "=" + std::to_string(v) + direct);
  if (family == "gemm")
    for (const char* s : {"gemm=1,gemm_split=2", "gemm=1,gemm_split=4", "gemm=2,gemm_split=4", "gemm=3,gemm_split=2",
                          "gemm=4,gemm_split=2", "gemm=4,gemm_split=4", "gemm=5,gemm_split=2"})
      out.push_back(s + direct);
  if (c.name.starts_with("linear"))
    for (const char* s : {"gemm=1,linear_a=0", "gemm=2,linear_a=0", "gemm=4,linear_a=0"}) out.push_back(s);
  if (conv)
    for (const char* s : {"winograd=1,gemm=1", "winograd=1,gemm=2", "winograd=1,gemm=4", "winograd=1,gemm=5"})
      out.push_back(s);
  return out;
}

// Errors allowed against the cpu reference: f32 arithmetic in another order (q8 weights are exact integers
// times one scale, so the same holds); Winograd keeps f16 weights' transforms in f16, one more rounding of each.
double max_error(const std::string& choice, const std::string& dtype) {
  return choice.starts_with("winograd=1") && dtype == "f16" ? 1e-6 : 1e-9;
}

// Keeps the GPU busy for a second before timing: after the cpu reference the GPU idles and lowers its clocks,
// and the first runs of fresh buffers are slow. Runs are queued without waiting (a loop of profile() calls leaves
// the GPU idle between them, which was not enough on the H200: small kernels still timed up to 2x slow).
void warm_up(Executable& exe) {
  const auto t0 = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - t0 < std::chrono::seconds(1)) {
    for (int i = 0; i < 20; ++i) exe.run();
    exe.profile();  // waits for the queued runs
  }
}

// A compiled lab graph with seeded random inputs.
std::unique_ptr<Executable> prepare(Backend& backend, const std::shared_ptr<Graph>& g) {
  auto exe = backend.compile(g);
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (TensorId id : g->inputs()) {
    std::vector<float> x(size_t(g->shape(id).numel()));
    for (auto& v : x) v = u(rng);
    exe->set_input(id, x.data());
  }
  return exe;
}

std::vector<float> output_of(Executable& exe, const Graph& g) {
  std::vector<float> y(size_t(g.shape(g.outputs()[0]).numel()));
  exe.read(g.outputs()[0], y.data());
  return y;
}

// `only`: the choices to run, '|' between them ("" = every one of choices_of).
int32_t run_lab(const std::string& filter, const std::string& dtype, int runs, const std::string& only,
                std::string& message) {
  auto reference = make_cpu_backend(CpuOptions{0, false});
  auto gpu = make_webgpu_backend();
  RandomWeights weights(dtype == "q8" ? DType::kI8 : DType::kF16);
  std::printf("kernel lab on %s, %s weights, median of %d runs (GPU time from timestamp queries)\n",
              gpu->name().c_str(), dtype.c_str(), runs);
  std::printf("  %-44s %-24s %9s %10s %12s\n", "case", "variant", "nmse", "ms", "rate");
  int failed = 0, ran = 0;
  for (const LabCase& c : lab_cases()) {
    if (!filter.empty() && (c.family + " " + c.name).find(filter) == std::string::npos) continue;
    auto small = std::make_shared<Graph>();
    c.build(*small, weights, true);
    std::unique_ptr<Executable> cpu = prepare(*reference, small);
    cpu->run();
    const std::vector<float> want = output_of(*cpu, *small);
    auto full = std::make_shared<Graph>();
    c.build(*full, weights, false);
    const double flops = full->flops();
    double best_ms = 1e30;
    std::string best;
    std::vector<std::string> choices = choices_of(c);
    if (!only.empty()) {
      choices.clear();
      std::istringstream items(only);
      for (std::string item; std::getline(items, item, '|');)
        if (!item.empty()) choices.push_back(item);
    }
    for (const std::string& choice : choices) {
      ++ran;
      webgpu::set_kernel_choice(choice);
      const bool automatic = choice.ends_with("=auto");
      const std::string label = choice.starts_with(c.family + "=") ? choice.substr(c.family.size() + 1) : choice;
      auto check = prepare(*gpu, small);
      check->run();
      const double err = test::normalised_error(output_of(*check, *small), want);
      const bool ok = std::isfinite(err) && err <= max_error(choice, dtype);
      failed += !ok;
      auto exe = prepare(*gpu, full);
      exe->run();
      warm_up(*exe);
      std::vector<double> times;
      std::string kernels;
      for (int r = 0; r < runs; ++r) {
        double ms = 0;
        const std::vector<ProfiledStep> steps = exe->profile();
        for (const ProfiledStep& s : steps) ms += s.ms;
        if (kernels.empty())
          for (const ProfiledStep& s : steps) kernels += (kernels.empty() ? "" : "+") + s.kernel;
        times.push_back(ms);
      }
      std::sort(times.begin(), times.end());
      const double ms = times[times.size() / 2];
      if (!automatic && ok && ms < best_ms) {
        best_ms = ms;
        best = choice;
      }
      char rate[32];
      if (flops > 0)
        std::snprintf(rate, sizeof rate, "%6.1f TFLOP/s", flops / ms / 1e9);
      else
        std::snprintf(rate, sizeof rate, "%6.0f GB/s", 2.0 * double(full->shape(full->outputs()[0]).numel()) * 4 / ms / 1e6);
      std::printf("  %-4s %-39.39s %-24s %9.2e %10.3f %12s  %s\n", ok ? "ok" : "FAIL", c.name.c_str(), label.c_str(),
                  err, ms, rate, automatic ? kernels.c_str() : "");
      std::fflush(stdout);
    }
    if (!best.empty()) std::printf("       -> fastest: %s (%.3f ms)\n", best.c_str(), best_ms);
  }
  webgpu::set_kernel_choice("");
  std::printf("kernel lab: %d checks passed, %d failed\n", ran - failed, failed);
  if (ran == 0) {
    message = "no lab case matches '" + filter + "'";
    return 1;
  }
  if (failed) message = std::to_string(failed) + " kernel variants differ from the cpu reference";
  return failed;
}

}  // namespace
}  // namespace websd

extern "C" {

// Job: the lab cases whose "family name" contains `filter`, under the '|'-separated `choices` ("" = all);
// status = number of failed checks.
EMSCRIPTEN_KEEPALIVE void websd_webtest_lab(const char* filter, const char* dtype, int runs, const char* choices) {
  const std::string f = filter ? filter : "", d = dtype ? dtype : "f16", only = choices ? choices : "";
  websd::wasm::start_job([f, d, runs, only](std::string& message) { return websd::run_lab(f, d, runs, only, message); });
}

}  // extern "C"
