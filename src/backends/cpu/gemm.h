// Single-precision matrix multiply, row-major: C[M,N] (+)= op(A)[M,K] · op(B)[K,N].
// Two implementations behind one interface: an optimised system BLAS where the native build has one
// (WEBSD_HAVE_BLAS), and a portable blocked kernel written with compiler vector extensions that builds for x86,
// Arm and wasm SIMD128. Which one runs is chosen per backend at run time, so both are tested and benchmarked.
#pragma once

#include <cstdint>
#include <shared_mutex>

#include "core/thread_pool.h"

namespace websd::cpu {

enum class Trans : uint8_t { kNo, kYes };

class Gemm {
 public:
  // portable = false picks the system BLAS when the build has one.
  Gemm(ThreadPool& pool, bool portable);

  const char* name() const;  // "openblas" or "portable"

  // Threaded over the pool.
  void operator()(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B,
                  int64_t ldb, float* C, int64_t ldc, bool accumulate) const;

  // On the calling thread only, for callers that are one task of a parallel loop (several run at once).
  // Hold a SerialScope, created outside the parallel loop, around such calls. The system BLAS has one thread count
  // for the whole process: a scope holds it at 1 (shared with other scopes) and threaded calls wait for the scopes
  // of every model in the process to end, so that two models running at once never flip it under each other.
  class SerialScope {
   public:
    explicit SerialScope(const Gemm& g);
    SerialScope(const SerialScope&) = delete;
    SerialScope& operator=(const SerialScope&) = delete;

   private:
    std::shared_lock<std::shared_mutex> blas_mode_;
  };
  void serial(const SerialScope&, Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
              const float* B, int64_t ldb, float* C, int64_t ldc, bool accumulate) const;

 private:
  ThreadPool& pool_;
  bool blas_;
};

// True when this build links a system BLAS.
bool have_blas();

}  // namespace websd::cpu
