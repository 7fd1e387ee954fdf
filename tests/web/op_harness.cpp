// The op-by-op harness on the webgpu backend: every case of tests/op_cases.cpp on the GPU against the cpu
// reference kernels, printed as one line per case with its normalised error; with repeats > 0 it also times each
// case on the GPU (the same cases as a micro-benchmark). Run from js/test/browser.test.mjs (Chromium, every
// variant), js/test/dawn.test.mjs (Node, the automatic choice) and js/webgpu-suite.mjs ops.
#include <emscripten/emscripten.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>

#include "backends/cpu/cpu_backend.h"
#include "backends/webgpu/kernel_choice.h"
#include "backends/webgpu/webgpu_backend.h"
#include "op_cases.h"
#include "wasm/host_channel.h"

namespace websd {
namespace {

// f32 arithmetic on both sides, in different orders, with WGSL's exp (a few ulp) and an erf approximation
// (1.5e-7): errors stay near 1e-12. Winograd convolutions of large f16 weights (272 channels here) keep their
// transformed weights in f16, one more rounding of each (about 1e-7 measured at SD's channel counts).
// Winograd runs where it is forced, and under the automatic choice wherever it applies (a software adapter takes
// it for every 3x3 stride-1 convolution).
// LoRA-merged weights stored as f16 or q8 are rounded on the GPU and on the host separately (WGSL leaves the
// f16 rounding direction to the implementation): one level of a few values, about 1e-7.
double max_error(const std::string& name, const std::string& choice) {
  if (name.find("_lora_") != std::string::npos && !name.ends_with("_to_F32")) return 1e-6;
  const bool winograd = choice.find("winograd=0") == std::string::npos && name.find("_k3_s1_p11") != std::string::npos;
  return winograd && name.ends_with("_F16") ? 1e-6 : 1e-9;
}

// The kernel choices a case runs under: every numbered variant of the family its op belongs to, so that each
// variant is checked against the reference (webgpu/kernel_choice.h). The f16 and q8 weight cases run a subset of
// the GEMM variants (the plain kernels, the first core tile, the direct core, split K, Winograd): their weight
// loaders (kernel_source.cpp) are shared by every tile shape, which the f32 cases each check, and on a software
// adapter each further variant costs seconds of shader compilation.
std::vector<std::string> choices_for(const std::string& name) {
  std::vector<std::string> out;
  const bool gemm = name.starts_with("linear") || name.starts_with("conv2d"), conv = name.starts_with("conv2d");
  const bool packed = name.find("_F16") != std::string::npos || name.find("_I8") != std::string::npos;
  // The GEMM variants with Winograd off, so that 3x3 convolutions it would take still run on each of them.
  const std::string direct = conv ? ",winograd=0" : "";
  for (int v = 0; gemm && v < webgpu::kGemmVariants; ++v)
    if (!packed || v == 0 || v == 1 || v == webgpu::kGemmDirect) out.push_back("gemm=" + std::to_string(v) + direct);
  if (gemm) {  // split K, partial sums reduced
    out.push_back("gemm=1,gemm_split=3" + direct);
    if (!packed) out.push_back("gemm=4,gemm_split=2" + direct);
  }
  if (name.starts_with("linear") && !packed)  // x rows gathered four at a time (the default: vectors along K)
    for (const char* a : {"gemm=1,linear_a=0", "gemm=2,linear_a=0"}) out.push_back(a);
  if (conv) {  // Winograd (3x3 stride-1 cases; the others, and q8 weights, fall back to the direct kernels)
    for (const char* w : {"winograd=1", "winograd=1,gemm=7"}) out.push_back(w);
    if (!packed)  // the last in chunks of 8 tiles (most cases need several, the last one partial)
      for (const char* w : {"winograd=1,gemm=2", "winograd=1,gemm=4", "winograd=1,winograd_tiles=8"}) out.push_back(w);
  }
  if (name.starts_with("attention"))
    for (int v = 0; v < webgpu::kAttentionVariants; ++v) out.push_back("attention=" + std::to_string(v));
  if (name.starts_with("group_norm"))
    for (int v = 0; v < webgpu::kGroupNormVariants; ++v) out.push_back("group_norm=" + std::to_string(v));
  if (name.starts_with("layer_norm"))
    for (int v = 0; v < webgpu::kLayerNormVariants; ++v) out.push_back("layer_norm=" + std::to_string(v));
  if (out.empty()) out.push_back("");
  return out;
}

// choices: "auto" runs each case under the automatic kernel choice only; "" under every variant of its family.
int32_t run_cases(const std::string& filter, int repeats, const std::string& choices, std::string& message) {
  auto reference = make_cpu_backend(CpuOptions{1, true});
  auto gpu = make_webgpu_backend();
  std::printf("op harness on %s\n", gpu->name().c_str());
  int failed = 0, ran = 0;
  for (const auto& c : test::all_op_cases()) {
    if (!filter.empty() && c.name.find(filter) == std::string::npos) continue;
    const std::vector<float> want = test::run_op_case(*reference, c);
    for (const std::string& choice : choices == "auto" ? std::vector<std::string>{""} : choices_for(c.name)) {
    ++ran;
    webgpu::set_kernel_choice(choice);
    test::PreparedCase p = test::prepare_case(*gpu, c);
    p.exe->run();
    const std::vector<float> got = test::read_output(p);
    double err = test::normalised_error(got, want);
    for (float v : got)
      if (!std::isfinite(v)) err = INFINITY;
    const bool ok = got.size() == want.size() && err <= max_error(c.name, choice);
    failed += !ok;
    std::string timing;
    if (repeats > 0) {
      const auto t0 = std::chrono::steady_clock::now();
      for (int i = 0; i < repeats; ++i) p.exe->run();
      test::read_output(p);  // waits for the GPU
      const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      char buf[64];
      std::snprintf(buf, sizeof buf, "  %9.3f ms/run", ms / repeats);
      timing = buf;
    }
    std::printf("  %-4s webgpu %-44s %-12s nmse %.2e%s\n", ok ? "ok" : "FAIL", c.name.c_str(), choice.c_str(), err,
                timing.c_str());
    }
  }
  webgpu::set_kernel_choice("");
  std::printf("op harness: %d passed, %d failed\n", ran - failed, failed);
  if (ran == 0) {
    message = "no op case matches '" + filter + "'";
    return 1;
  }
  if (failed) message = std::to_string(failed) + " op cases differ from the cpu reference";
  return failed;
}

}  // namespace
}  // namespace websd

extern "C" {

// Job: runs the cases whose name contains `filter` ("" = all), under every variant or (choices "auto") the
// automatic choice; status = number of failures.
EMSCRIPTEN_KEEPALIVE void websd_webtest_ops(const char* filter, int repeats, const char* choices) {
  const std::string f = filter ? filter : "", c = choices ? choices : "";
  websd::wasm::start_job([f, repeats, c](std::string& message) { return websd::run_cases(f, repeats, c, message); });
}

}  // extern "C"
