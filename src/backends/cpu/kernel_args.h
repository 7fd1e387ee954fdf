// What a cpu kernel sees of one node: its input and output bytes in the arena (or in the weight files),
// its scratch, and the thread pool.
#pragma once

#include <vector>

#include "backends/cpu/gemm.h"
#include "core/graph.h"
#include "core/thread_pool.h"

namespace websd::cpu {

// Which fast kernel runs where there are several (CpuOptions): -1 the measured rule, 0 / 1 forced.
struct FastChoice {
  int winograd = -1;  // 3×3 stride-1 convolutions: 0 direct, 1 Winograd F(4×4, 3×3) wherever it applies
  bool blas = false;  // products go to the system BLAS, which needs f32 copies of stored weights (Gemm)
  int winograd_band_rows = 0;  // 0: bands of tile rows sized by memory (winograd.cpp); N: N rows a band
};

struct KernelArgs {
  const Graph& g;
  const std::vector<WeightData>& weights;  // the graph's weights, resident (in memory) while the executable lives
  const Node& n;
  std::vector<const void*> in;  // activations are f32; weights keep their stored dtype
  void* out;
  void* scratch;
  ThreadPool& pool;
  const Gemm& gemm;
  FastChoice choice;

  const Node& input_node(size_t i) const { return g.node(n.inputs[i]); }
  const Shape& input_shape(size_t i) const { return g.node(n.inputs[i]).shape; }
  DType input_dtype(size_t i) const { return g.node(n.inputs[i]).dtype; }
  const float* in_f32(size_t i) const { return static_cast<const float*>(in[i]); }
  float* out_f32() const { return static_cast<float*>(out); }
  bool has_input(size_t i) const { return n.inputs.size() > i; }
  // The stored weight behind input i, or nullptr for activations.
  const WeightData* weight(size_t i) const {
    const Node& w = input_node(i);
    return w.op == Op::kWeight ? &weights[size_t(w.weight)] : nullptr;
  }
};

// A small parameter tensor (bias, norm affine) as f32, whatever its stored dtype.
std::vector<float> small_param_f32(const KernelArgs& a, size_t i);

// Plain loops, one per op: the readable definition every other path is tested against.
void run_reference(const KernelArgs& a);

// Threaded, blocked, SIMD-friendly versions. Return false where no fast path exists (the reference runs then).
bool run_fast(const KernelArgs& a);
size_t fast_scratch_bytes(const Graph& g, const Node& n, int threads, FastChoice choice);

}  // namespace websd::cpu
