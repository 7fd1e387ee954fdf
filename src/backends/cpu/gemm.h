// Single-precision matrix multiply, row-major: C[M,N] (+)= op(A)[M,K] · op(B)[K,N].
// Two implementations behind one call: an optimised system BLAS where the native build has one (WEBSD_BLAS),
// and a portable blocked kernel written with compiler vector extensions that builds for x86, Arm and wasm SIMD128.
#pragma once

#include <cstdint>

#include "core/thread_pool.h"

namespace websd::cpu {

enum class Trans : uint8_t { kNo, kYes };

void sgemm(ThreadPool& pool, Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
           const float* B, int64_t ldb, float* C, int64_t ldc, bool accumulate);

// The portable kernel, always available (the benchmark compares it with the BLAS one).
void sgemm_portable(ThreadPool& pool, Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, const float* A,
                    int64_t lda, const float* B, int64_t ldb, float* C, int64_t ldc, bool accumulate);

// sgemm on the calling thread only, for callers that already are one task of a parallel loop (several such
// calls run at once). Hold a SerialGemmScope, created outside the parallel loop, while making these calls.
class SerialGemmScope {
 public:
  SerialGemmScope();
  ~SerialGemmScope();
  SerialGemmScope(const SerialGemmScope&) = delete;
  SerialGemmScope& operator=(const SerialGemmScope&) = delete;
};
void sgemm_serial(const SerialGemmScope& scope, Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, const float* A,
                  int64_t lda, const float* B, int64_t ldb, float* C, int64_t ldc, bool accumulate);

// "openblas" or "portable".
const char* sgemm_implementation();

}  // namespace websd::cpu
