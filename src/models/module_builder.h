// Helpers that turn checkpoint-named layers into graph nodes: `linear("to_out.0", x, 320)` looks up
// to_out.0.weight [320, in] and to_out.0.bias [320] in the weight source (shape-checked) and adds the op.
#pragma once

#include <string>

#include "core/graph.h"
#include "io/weight_source.h"

namespace websd {

struct ModuleBuilder {
  Graph& g;
  const WeightSource& w;

  TensorId param(const std::string& name, const Shape& shape) { return g.weight(w.get(name, shape)); }
  int64_t channels(TensorId x) const { return g.shape(x)[1]; }
  int64_t last_dim(TensorId x) const { return g.shape(x).dims.back(); }

  // `residual` (-1: none) is added to the output inside the op (a residual connection: graph.h).
  TensorId linear(const std::string& name, TensorId x, int64_t out, bool bias = true, TensorId residual = -1) {
    TensorId wt = param(name + ".weight", Shape{out, last_dim(x)});
    TensorId b = bias ? param(name + ".bias", Shape{out}) : -1;
    return ops::linear(g, x, wt, b, residual);
  }
  TensorId conv(const std::string& name, TensorId x, int64_t out, int kernel, int stride = 1, int pad = -1,
                int pad_end = -1) {
    if (pad < 0) pad = kernel / 2;
    TensorId wt = param(name + ".weight", Shape{out, channels(x), kernel, kernel});
    TensorId b = param(name + ".bias", Shape{out});
    return ops::conv2d(g, x, wt, b, stride, pad, pad_end);
  }
  // conv(x) + residual for a same-size convolution (stride 1, padding kernel / 2), the add fused into the op.
  TensorId conv_residual(const std::string& name, TensorId x, int64_t out, int kernel, TensorId residual) {
    TensorId wt = param(name + ".weight", Shape{out, channels(x), kernel, kernel});
    TensorId b = param(name + ".bias", Shape{out});
    return ops::conv2d(g, x, wt, b, 1, kernel / 2, -1, residual);
  }
  TensorId group_norm(const std::string& name, TensorId x, int groups, float eps, Act act = Act::kNone) {
    const int64_t c = channels(x);
    return ops::group_norm(g, x, param(name + ".weight", Shape{c}), param(name + ".bias", Shape{c}), groups, eps, act);
  }
  TensorId layer_norm(const std::string& name, TensorId x, float eps) {
    const int64_t c = last_dim(x);
    return ops::layer_norm(g, x, param(name + ".weight", Shape{c}), param(name + ".bias", Shape{c}), eps);
  }
};

}  // namespace websd
