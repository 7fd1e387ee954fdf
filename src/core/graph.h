// A static compute graph: built once per (model, resolution, batch), then planned and executed by a backend.
// Nodes are stored in execution order (every node's inputs come before it), so the node list is the schedule.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/shape.h"

namespace websd {

enum class Op : uint8_t {
  kInput,      // filled by the caller before each run
  kWeight,     // a stored tensor (f32/f16/bf16, or q8: i8 with a scale per row), read-only
  kLinear,     // x[..., K] · w[N, K]ᵀ (+ b[N]) (+ r)                    -> [..., N]
  kConv2d,     // x[B,C,H,W] ⊛ w[O,C,kh,kw] (+ b[O]) (+ r); stride; zero padding pad (top/left), pad_end  -> [B,O,H',W']
               // r (p.residual): a tensor of the output's shape added at the end (a residual connection, fused
               // so that no backend spends a pass on it); the last input, after the bias if there is one
  kGroupNorm,  // x[B,C,...], gamma[C], beta[C]; groups, eps, optional fused SiLU
  kLayerNorm,  // x[..., C], gamma[C], beta[C]; eps
  kAdd,        // a + b; b has a's shape or a trailing suffix of it (repeated over the leading dims)
  kAddChannel, // a[B,C,H,W] + b[B,C] broadcast over H,W
  kMul,        // a * b; b has a's shape, a trailing suffix of it, or one element (a scale set at run time)
  kScale,      // x * scale
  kSilu,
  kGelu,       // erf form
  kQuickGelu,  // x * sigmoid(1.702 x)
  kRelu,       // max(x, 0)
  kGeglu,      // x[..., 2D] -> x[..., :D] * gelu(x[..., D:])
  kAttention,  // q[B,Lq,H·d], k[B,Lk,H·d], v[B,Lk,H·d] -> [B,Lq,H·d]; heads, scale, causal
  kUpsample,   // nearest-neighbour, [B,C,H,W] -> [B,C,H',W'] (PyTorch 'nearest': src = floor(dst·in/out))
  kConcat,     // along dim 1: [B,C1,...] ++ [B,C2,...]
  kSlice,      // channels [begin, end) of dim 1
  kToTokens,   // [B,C,H,W] -> [B,H·W,C]
  kToImage,    // [B,H·W,C] -> [B,C,H,W] (H, W in params)
  kEmbedding,  // table[V,D] gathered at ids (i32) [B,L] -> [B,L,D]
};

const char* op_name(Op op);

enum class Act : uint8_t { kNone, kSilu };

struct OpParams {
  int stride = 1, pad = 0, pad_end = 0;
  int groups = 0, heads = 0;
  int height = 0, width = 0;
  int64_t begin = 0, end = 0;
  float eps = 0, scale = 1;
  bool causal = false;
  bool residual = false;  // linear, conv2d: the last input is added to the output
  Act act = Act::kNone;
};

// A stored tensor the graph reads. `data` stays valid while `owner` lives (an mmapped file, or synthesized bytes).
// Stored as F32, F16, BF16, or quantized: I8 values with one f32 scale per row of dim 0 (per output channel),
// w[o, ...] = q[o, ...] · scales[o].
//
// A weight need not be resident: where files are read rather than mapped (the WebAssembly build) and for
// synthesized weights, `data` is null and `load` brings the bytes when a backend needs them (the cpu backend when
// it compiles, the webgpu backend while it uploads, then drops them), so a graph never holds a network's weights
// in memory. `owner` then identifies the stored bytes (their file) for caches.
//
// A weight may also be a stored one plus a low-rank product (LoRAs merged into it): `low_rank` then describes the
// sum (core/low_rank.h), so that a backend can compute it where the stored weight already lives (the webgpu
// backend does, on the GPU); `load` computes it on the host.
struct LowRankSum;
struct WeightData {
  std::string name;
  DType dtype = DType::kF32;
  Shape shape;
  const void* data = nullptr;
  std::shared_ptr<const void> owner;
  const float* scales = nullptr;  // I8 only: shape[0] scales, kept alive by `owner`
  std::function<WeightData()> load;  // for weights that are not resident: this weight with `data` set
  std::shared_ptr<const LowRankSum> low_rank;  // set where this weight is base + up · down
};

// `w` with its bytes in memory: itself when resident, else what w.load() reads (kept alive by its owner).
WeightData resident(const WeightData& w);

// Elements [begin, begin + n) of the flattened weight as f32, whatever its storage. `w` must be resident.
void expand_weight(const WeightData& w, size_t begin, size_t n, float* dst);

using TensorId = int32_t;

struct Node {
  Op op;
  std::vector<TensorId> inputs;
  Shape shape;
  DType dtype = DType::kF32;  // of the output: F32 for activations, I32 for token ids, stored type for weights
  OpParams p;
  int32_t weight = -1;  // index into Graph::weights() for kWeight
  std::string name;     // inputs, weights and outputs are named
};

// linear, conv2d: whether input 2 is a bias (and not the residual), and the residual's input (-1 if none).
inline bool has_bias(const Node& n) { return n.inputs.size() > (n.p.residual ? 3u : 2u); }
inline TensorId residual_of(const Node& n) { return n.p.residual ? n.inputs.back() : -1; }

class Graph {
 public:
  TensorId input(const std::string& name, Shape shape, DType dtype = DType::kF32);
  TensorId weight(WeightData w);
  TensorId add_node(Op op, std::vector<TensorId> inputs, Shape shape, OpParams p = {});
  void mark_output(TensorId t, const std::string& name);

  const Node& node(TensorId t) const { return nodes_[size_t(t)]; }
  const Shape& shape(TensorId t) const { return nodes_[size_t(t)].shape; }
  const std::vector<Node>& nodes() const { return nodes_; }
  const std::vector<WeightData>& weights() const { return weights_; }
  const std::vector<TensorId>& inputs() const { return inputs_; }
  const std::vector<TensorId>& outputs() const { return outputs_; }
  TensorId input_by_name(const std::string& name) const;
  TensorId output_by_name(const std::string& name) const;

  uint64_t weight_bytes() const;
  // Floating-point operations of one run (multiply-add = 2), for throughput reports.
  double flops() const;
  double node_flops(const Node& n) const;

 private:
  std::vector<Node> nodes_;
  std::vector<WeightData> weights_;
  std::vector<TensorId> inputs_, outputs_;
};

// Shape-checked builders for every op; the models use these and never call add_node directly.
namespace ops {
// `residual` (-1: none) is added to the output: y = x·wᵀ + b + residual, conv2d likewise.
TensorId linear(Graph& g, TensorId x, TensorId w, TensorId b = -1, TensorId residual = -1);
TensorId conv2d(Graph& g, TensorId x, TensorId w, TensorId b, int stride, int pad, int pad_end = -1,
                TensorId residual = -1);
TensorId group_norm(Graph& g, TensorId x, TensorId gamma, TensorId beta, int groups, float eps, Act act = Act::kNone);
TensorId layer_norm(Graph& g, TensorId x, TensorId gamma, TensorId beta, float eps);
TensorId add(Graph& g, TensorId a, TensorId b);
TensorId add_channel(Graph& g, TensorId a, TensorId b);
TensorId mul(Graph& g, TensorId a, TensorId b);
TensorId scale(Graph& g, TensorId x, float s);
TensorId silu(Graph& g, TensorId x);
TensorId gelu(Graph& g, TensorId x);
TensorId quick_gelu(Graph& g, TensorId x);
TensorId relu(Graph& g, TensorId x);
TensorId geglu(Graph& g, TensorId x);
TensorId attention(Graph& g, TensorId q, TensorId k, TensorId v, int heads, float scale, bool causal);
TensorId upsample(Graph& g, TensorId x, int64_t height, int64_t width);
TensorId concat(Graph& g, TensorId a, TensorId b);
TensorId slice_channels(Graph& g, TensorId x, int64_t begin, int64_t end);
TensorId to_tokens(Graph& g, TensorId x);
TensorId to_image(Graph& g, TensorId x, int height, int width);
TensorId embedding(Graph& g, TensorId table, TensorId ids);
}  // namespace ops

}  // namespace websd
