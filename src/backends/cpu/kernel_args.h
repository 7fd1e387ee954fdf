// What a cpu kernel sees of one node: its input and output bytes in the arena (or in the weight files),
// its scratch, and the thread pool.
#pragma once

#include <vector>

#include "backends/cpu/gemm.h"
#include "core/graph.h"
#include "core/thread_pool.h"

namespace websd::cpu {

struct KernelArgs {
  const Graph& g;
  const std::vector<WeightData>& weights;  // the graph's weights, resident (in memory) while the executable lives
  const Node& n;
  std::vector<const void*> in;  // activations are f32; weights keep their stored dtype
  void* out;
  void* scratch;
  ThreadPool& pool;
  const Gemm& gemm;

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
size_t fast_scratch_bytes(const Graph& g, const Node& n, int threads);

}  // namespace websd::cpu
