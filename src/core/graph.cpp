#include "core/graph.h"

#include <algorithm>
#include <cassert>

#include "core/error.h"

namespace websd {

WeightData resident(const WeightData& w) {
  if (w.data || !w.load) return w;
  return w.load();
}

void expand_weight(const WeightData& w, size_t begin, size_t n, float* dst) {
  if (w.dtype != DType::kI8) {
    convert_to_f32(w.dtype, static_cast<const uint8_t*>(w.data) + begin * dtype_size(w.dtype), dst, n);
    return;
  }
  assert(w.scales && "an I8 weight needs its scales");
  const size_t row = size_t(w.shape.numel() / w.shape[0]);
  const int8_t* q = static_cast<const int8_t*>(w.data) + begin;
  size_t i = 0;
  while (i < n) {  // row by row, so that the inner loop is a plain vectorisable scale
    const size_t r = (begin + i) / row, end = std::min(n, (r + 1) * row - begin);
    const float s = w.scales[r];
    for (; i < end; ++i) dst[i] = float(q[i]) * s;
  }
}

const char* op_name(Op op) {
  switch (op) {
    case Op::kInput: return "input";
    case Op::kWeight: return "weight";
    case Op::kLinear: return "linear";
    case Op::kConv2d: return "conv2d";
    case Op::kGroupNorm: return "group_norm";
    case Op::kLayerNorm: return "layer_norm";
    case Op::kAdd: return "add";
    case Op::kAddChannel: return "add_channel";
    case Op::kMul: return "mul";
    case Op::kScale: return "scale";
    case Op::kSilu: return "silu";
    case Op::kGelu: return "gelu";
    case Op::kQuickGelu: return "quick_gelu";
    case Op::kRelu: return "relu";
    case Op::kGeglu: return "geglu";
    case Op::kAttention: return "attention";
    case Op::kUpsample: return "upsample";
    case Op::kConcat: return "concat";
    case Op::kSlice: return "slice";
    case Op::kToTokens: return "to_tokens";
    case Op::kToImage: return "to_image";
    case Op::kEmbedding: return "embedding";
  }
  return "?";
}

TensorId Graph::input(const std::string& name, Shape shape, DType dtype) {
  Node n{Op::kInput, {}, std::move(shape), dtype, {}, -1, name};
  nodes_.push_back(std::move(n));
  inputs_.push_back(TensorId(nodes_.size() - 1));
  return inputs_.back();
}

TensorId Graph::weight(WeightData w) {
  Node n{Op::kWeight, {}, w.shape, w.dtype, {}, int32_t(weights_.size()), w.name};
  weights_.push_back(std::move(w));
  nodes_.push_back(std::move(n));
  return TensorId(nodes_.size() - 1);
}

TensorId Graph::add_node(Op op, std::vector<TensorId> inputs, Shape shape, OpParams p) {
#ifndef NDEBUG
  for (TensorId t : inputs) assert(t >= 0 && size_t(t) < nodes_.size());
#endif
  nodes_.push_back(Node{op, std::move(inputs), std::move(shape), DType::kF32, p, -1, {}});
  return TensorId(nodes_.size() - 1);
}

void Graph::mark_output(TensorId t, const std::string& name) {
  outputs_.push_back(t);
  nodes_[size_t(t)].name = name;
}

TensorId Graph::input_by_name(const std::string& name) const {
  for (TensorId t : inputs_)
    if (nodes_[size_t(t)].name == name) return t;
  throw Error(ErrorCode::kInvalidArgument, "graph has no input '" + name + "'");
}

TensorId Graph::output_by_name(const std::string& name) const {
  for (TensorId t : outputs_)
    if (nodes_[size_t(t)].name == name) return t;
  throw Error(ErrorCode::kInvalidArgument, "graph has no output '" + name + "'");
}

uint64_t Graph::weight_bytes() const {
  uint64_t n = 0;  // 64 bits: SDXL's UNet alone is more than wasm32's size_t holds
  for (const auto& w : weights_) n += uint64_t(w.shape.numel()) * dtype_size(w.dtype);
  return n;
}

double Graph::node_flops(const Node& n) const {
  switch (n.op) {
    case Op::kLinear: return 2.0 * double(n.shape.numel()) * double(node(n.inputs[1]).shape[1]);
    case Op::kConv2d: {
      const Shape& w = node(n.inputs[1]).shape;
      return 2.0 * double(n.shape.numel()) * double(w[1] * w[2] * w[3]);
    }
    case Op::kAttention: {
      const Shape& q = node(n.inputs[0]).shape;
      const Shape& k = node(n.inputs[1]).shape;
      return 4.0 * double(q[0]) * double(q[1]) * double(k[1]) * double(q[2]);
    }
    default: return 0;
  }
}

double Graph::flops() const {
  double total = 0;
  for (const Node& n : nodes_) total += node_flops(n);
  return total;
}

namespace ops {
namespace {

[[noreturn]] void bad(const char* op, const std::string& what) {
  throw Error(ErrorCode::kShapeMismatch, std::string(op) + ": " + what);
}

// The residual input of linear or conv2d, checked against the output shape.
void add_residual(Graph& g, const char* op, TensorId residual, const Shape& out, std::vector<TensorId>& in,
                  OpParams& p) {
  if (residual < 0) return;
  if (g.shape(residual) != out) bad(op, "residual " + g.shape(residual).str() + " for output " + out.str());
  in.push_back(residual);
  p.residual = true;
}

}  // namespace

TensorId linear(Graph& g, TensorId x, TensorId w, TensorId b, TensorId residual) {
  const Shape& xs = g.shape(x);
  const Shape& ws = g.shape(w);
  if (ws.rank() != 2 || xs.rank() < 1 || xs.dims.back() != ws[1])
    bad("linear", "input " + xs.str() + " does not fit weight " + ws.str());
  if (b >= 0 && (g.shape(b).rank() != 1 || g.shape(b)[0] != ws[0])) bad("linear", "bias " + g.shape(b).str());
  Shape out = xs;
  out.dims.back() = ws[0];
  std::vector<TensorId> in{x, w};
  if (b >= 0) in.push_back(b);
  OpParams p;
  add_residual(g, "linear", residual, out, in, p);
  return g.add_node(Op::kLinear, in, out, p);
}

TensorId conv2d(Graph& g, TensorId x, TensorId w, TensorId b, int stride, int pad, int pad_end, TensorId residual) {
  if (pad_end < 0) pad_end = pad;
  const Shape& xs = g.shape(x);
  const Shape& ws = g.shape(w);
  if (xs.rank() != 4 || ws.rank() != 4 || xs[1] != ws[1])
    bad("conv2d", "input " + xs.str() + " does not fit weight " + ws.str());
  if (b >= 0 && (g.shape(b).rank() != 1 || g.shape(b)[0] != ws[0])) bad("conv2d", "bias " + g.shape(b).str());
  int64_t ho = (xs[2] + pad + pad_end - ws[2]) / stride + 1;
  int64_t wo = (xs[3] + pad + pad_end - ws[3]) / stride + 1;
  if (ho <= 0 || wo <= 0) bad("conv2d", "input " + xs.str() + " is smaller than the kernel");
  OpParams p;
  p.stride = stride;
  p.pad = pad;
  p.pad_end = pad_end;
  std::vector<TensorId> in{x, w};
  if (b >= 0) in.push_back(b);
  const Shape out{xs[0], ws[0], ho, wo};
  add_residual(g, "conv2d", residual, out, in, p);
  return g.add_node(Op::kConv2d, in, out, p);
}

TensorId group_norm(Graph& g, TensorId x, TensorId gamma, TensorId beta, int groups, float eps, Act act) {
  const Shape& xs = g.shape(x);
  if (xs.rank() < 2 || xs[1] % groups != 0) bad("group_norm", xs.str() + " with " + std::to_string(groups) + " groups");
  if (g.shape(gamma) != Shape{xs[1]} || g.shape(beta) != Shape{xs[1]}) bad("group_norm", "affine params");
  OpParams p;
  p.groups = groups;
  p.eps = eps;
  p.act = act;
  return g.add_node(Op::kGroupNorm, {x, gamma, beta}, xs, p);
}

TensorId layer_norm(Graph& g, TensorId x, TensorId gamma, TensorId beta, float eps) {
  const Shape& xs = g.shape(x);
  if (g.shape(gamma) != Shape{xs.dims.back()} || g.shape(beta) != Shape{xs.dims.back()})
    bad("layer_norm", "affine params do not fit " + xs.str());
  OpParams p;
  p.eps = eps;
  return g.add_node(Op::kLayerNorm, {x, gamma, beta}, xs, p);
}

TensorId add(Graph& g, TensorId a, TensorId b) {
  const Shape& as = g.shape(a);
  const Shape& bs = g.shape(b);
  bool suffix = bs.rank() <= as.rank();
  for (size_t i = 0; suffix && i < bs.rank(); ++i) suffix = bs.dims[bs.rank() - 1 - i] == as.dims[as.rank() - 1 - i];
  if (!suffix) bad("add", as.str() + " + " + bs.str());
  return g.add_node(Op::kAdd, {a, b}, as);
}

TensorId add_channel(Graph& g, TensorId a, TensorId b) {
  const Shape& as = g.shape(a);
  const Shape& bs = g.shape(b);
  if (as.rank() != 4 || bs != Shape{as[0], as[1]}) bad("add_channel", as.str() + " + " + bs.str());
  return g.add_node(Op::kAddChannel, {a, b}, as);
}

TensorId mul(Graph& g, TensorId a, TensorId b) {
  const Shape& as = g.shape(a);
  const Shape& bs = g.shape(b);
  bool suffix = bs.rank() <= as.rank();
  for (size_t i = 0; suffix && i < bs.rank(); ++i) suffix = bs.dims[bs.rank() - 1 - i] == as.dims[as.rank() - 1 - i];
  if (!suffix && bs.numel() != 1) bad("mul", as.str() + " * " + bs.str());
  return g.add_node(Op::kMul, {a, b}, as);
}

TensorId scale(Graph& g, TensorId x, float s) {
  OpParams p;
  p.scale = s;
  return g.add_node(Op::kScale, {x}, g.shape(x), p);
}

TensorId silu(Graph& g, TensorId x) { return g.add_node(Op::kSilu, {x}, g.shape(x)); }
TensorId gelu(Graph& g, TensorId x) { return g.add_node(Op::kGelu, {x}, g.shape(x)); }
TensorId quick_gelu(Graph& g, TensorId x) { return g.add_node(Op::kQuickGelu, {x}, g.shape(x)); }
TensorId relu(Graph& g, TensorId x) { return g.add_node(Op::kRelu, {x}, g.shape(x)); }

TensorId geglu(Graph& g, TensorId x) {
  Shape s = g.shape(x);
  if (s.dims.back() % 2 != 0) bad("geglu", "odd last dimension " + s.str());
  s.dims.back() /= 2;
  return g.add_node(Op::kGeglu, {x}, s);
}

TensorId attention(Graph& g, TensorId q, TensorId k, TensorId v, int heads, float scale, bool causal) {
  const Shape& qs = g.shape(q);
  const Shape& ks = g.shape(k);
  const Shape& vs = g.shape(v);
  if (qs.rank() != 3 || ks.rank() != 3 || ks != vs || qs[0] != ks[0] || qs[2] != ks[2] || qs[2] % heads != 0)
    bad("attention", "q " + qs.str() + " k " + ks.str() + " v " + vs.str() + " heads " + std::to_string(heads));
  OpParams p;
  p.heads = heads;
  p.scale = scale;
  p.causal = causal;
  return g.add_node(Op::kAttention, {q, k, v}, qs, p);
}

TensorId upsample(Graph& g, TensorId x, int64_t height, int64_t width) {
  const Shape& s = g.shape(x);
  if (s.rank() != 4 || height <= 0 || width <= 0) bad("upsample", s.str());
  return g.add_node(Op::kUpsample, {x}, Shape{s[0], s[1], height, width});
}

TensorId concat(Graph& g, TensorId a, TensorId b) {
  Shape as = g.shape(a);
  const Shape& bs = g.shape(b);
  bool ok = as.rank() == bs.rank() && as.rank() >= 2;
  for (size_t i = 0; ok && i < as.rank(); ++i) ok = i == 1 || as[i] == bs[i];
  if (!ok) bad("concat", as.str() + " ++ " + bs.str());
  as.dims[1] += bs[1];
  return g.add_node(Op::kConcat, {a, b}, as);
}

TensorId slice_channels(Graph& g, TensorId x, int64_t begin, int64_t end) {
  Shape s = g.shape(x);
  if (s.rank() < 2 || begin < 0 || end > s[1] || begin >= end) bad("slice", s.str());
  s.dims[1] = end - begin;
  OpParams p;
  p.begin = begin;
  p.end = end;
  return g.add_node(Op::kSlice, {x}, s, p);
}

TensorId to_tokens(Graph& g, TensorId x) {
  const Shape& s = g.shape(x);
  if (s.rank() != 4) bad("to_tokens", s.str());
  return g.add_node(Op::kToTokens, {x}, Shape{s[0], s[2] * s[3], s[1]});
}

TensorId to_image(Graph& g, TensorId x, int height, int width) {
  const Shape& s = g.shape(x);
  if (s.rank() != 3 || s[1] != int64_t(height) * width) bad("to_image", s.str());
  OpParams p;
  p.height = height;
  p.width = width;
  return g.add_node(Op::kToImage, {x}, Shape{s[0], s[2], height, width}, p);
}

TensorId embedding(Graph& g, TensorId table, TensorId ids) {
  const Shape& ts = g.shape(table);
  const Shape& is = g.shape(ids);
  if (ts.rank() != 2 || g.node(ids).dtype != DType::kI32) bad("embedding", ts.str() + " at " + is.str());
  Shape out = is;
  out.dims.push_back(ts[1]);
  return g.add_node(Op::kEmbedding, {table, ids}, out);
}

}  // namespace ops
}  // namespace websd
