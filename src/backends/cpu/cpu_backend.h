// The cpu backend: runs graphs on the host, from one arena laid out by the static memory planner.
#pragma once

#include "backends/backend.h"
#include "backends/cpu/gemm_choice.h"

namespace websd {

struct CpuOptions {
  int threads = 0;         // 0: one per hardware thread (or WEBSD_THREADS)
  bool reference = false;  // run the plain reference kernels only (for checking the fast paths)
  // Where a BLAS is linked: the faster of it and the portable sgemm (what the wasm build runs), or either one.
  cpu::SgemmRequest sgemm = cpu::SgemmRequest::kMeasured;
  int winograd = -1;  // 3×3 stride-1 convolutions: -1 where it measured faster, 0 never, 1 wherever it applies
  int winograd_band_rows = 0;  // 0: Winograd's bands of tile rows sized by memory; N: N rows (tests)
};

std::unique_ptr<Backend> make_cpu_backend(const CpuOptions& options = {});

}  // namespace websd
