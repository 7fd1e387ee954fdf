// Single-precision matrix multiply, row-major: C[M,N] (+)= op(A)[M,K] · op(B)[K,N].
// Two implementations behind one interface: an optimised system BLAS where the native build has one
// (WEBSD_HAVE_BLAS), and a portable blocked kernel written with compiler vector extensions that builds for x86,
// Arm and wasm SIMD128. Which one runs is chosen per backend at run time, so both are tested and benchmarked.
#pragma once

#include <cstdint>
#include <shared_mutex>
#include <string>

#include "core/graph.h"
#include "core/thread_pool.h"

namespace websd::cpu {

enum class Trans : uint8_t { kNo, kYes };

// One operand of a product: f32 in memory, or a stored weight (f16, bf16, q8 or f32; resident) read in its own
// dtype, its flattened elements row-major with leading dimension ld.
struct GemmOperand {
  const float* f32 = nullptr;
  const WeightData* weight = nullptr;
  int64_t ld = 0;
};

class Gemm {
 public:
  // use_blas picks the system BLAS where the build has one (gemm_choice.h says which is faster).
  Gemm(ThreadPool& pool, bool use_blas);

  const char* name() const;  // "openblas" or "portable"
  // The portable kernel's blocking ("portable 6x32, kc 256, ..."): what a measurement of it depends on.
  static std::string portable_description();

  // Threaded over the pool.
  void operator()(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B,
                  int64_t ldb, float* C, int64_t ldc, bool accumulate) const;

  // The same with A and B as operands: the portable kernel expands a stored weight's elements while it packs its
  // panels, so no f32 copy of the weight is ever made. The BLAS reads f32 only: give it operands from prepare().
  void operator()(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, const GemmOperand& A, const GemmOperand& B,
                  float* C, int64_t ldc, bool accumulate) const;
  // The operand as this implementation reads it: for the BLAS a stored weight other than f32 is expanded into
  // `scratch` (expansion_floats() of them, threaded), once for however many products use it.
  GemmOperand prepare(const GemmOperand& o, float* scratch) const;
  size_t expansion_floats(DType dtype, int64_t elements) const { return expansion_floats(blas_, dtype, elements); }
  static size_t expansion_floats(bool blas, DType dtype, int64_t elements) {
    return blas && dtype != DType::kF32 ? size_t(elements) : 0;
  }

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

// True when this build links a system BLAS; its name ("openblas") and build ("OpenBLAS 0.3.21 ... Haswell"), or "none".
bool have_blas();
const char* blas_name();
std::string blas_description();

}  // namespace websd::cpu
