// Which sgemm the cpu backend runs where the native build links a system BLAS: the portable kernel or the BLAS,
// whichever is faster on this machine. The two are timed once on products of the shapes Stable Diffusion's
// networks multiply (gemm_choice.cpp), and the answer is kept in a small JSON file per machine and thread count,
// so later processes do not time again. Users' machines differ: on the 2-core AVX-512 machines this project is
// built on, OpenBLAS 0.3.21 picks its AVX2 kernels and the portable one wins; elsewhere the BLAS may.
#pragma once

#include <string>

#include "core/thread_pool.h"

namespace websd::cpu {

enum class SgemmRequest { kMeasured, kPortable, kBlas };

struct SgemmChoice {
  bool blas = false;
  std::string why;  // "measured: portable 41.0 ms, openblas 52.3 ms over 6 SD products", "cached in FILE: ...",
                    // "asked for", "this build has no BLAS"
};

// Parses "auto" | "portable" | "blas" (the --sgemm values); throws Error(kInvalidArgument) for anything else.
SgemmRequest parse_sgemm_request(const std::string& text);

// The choice for a pool of this size. kMeasured reads the cache, or times both and writes it; the result is kept
// for the process. Failing to read or write the cache is not an error: it times again.
SgemmChoice choose_sgemm(ThreadPool& pool, SgemmRequest request);

// What kMeasured does without the process's memory: the choice cached in the JSON file at `path` for this machine
// and pool size, else timed now and written there ("" = no file).
SgemmChoice measured_sgemm(ThreadPool& pool, const std::string& path);

// The cache file: $WEBSD_CACHE_DIR/sgemm.json, else $XDG_CACHE_HOME/websd/sgemm.json, else ~/.cache/websd/sgemm.json
// ("" where none of these is set).
std::string sgemm_cache_path();

}  // namespace websd::cpu
