// The cpu backend: runs graphs on the host, from one arena laid out by the static memory planner.
#pragma once

#include "backends/backend.h"

namespace websd {

struct CpuOptions {
  int threads = 0;         // 0: one per hardware thread (or WEBSD_THREADS)
  bool reference = false;      // run the plain reference kernels only (for checking the fast paths)
  bool portable_gemm = false;  // use the portable sgemm (what the wasm build runs) even where a BLAS is linked
};

std::unique_ptr<Backend> make_cpu_backend(const CpuOptions& options = {});

}  // namespace websd
