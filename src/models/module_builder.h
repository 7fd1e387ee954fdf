// Helpers that turn checkpoint-named layers into graph nodes: `linear("to_out.0", x, 320)` looks up
// to_out.0.weight [320, in] and to_out.0.bias [320] in the weight source (shape-checked) and adds the op.
#pragma once

#include <string>

#include "core/graph.h"
#include "core/low_rank.h"
#include "io/weight_source.h"

namespace websd {

struct ModuleBuilder {
  Graph& g;
  const WeightSource& w;

  TensorId param(const std::string& name, const Shape& shape) { return g.weight(w.get(name, shape)); }
  // One factor of a LoRA applied at run time, as an f32 weight kept alive by its terms.
  TensorId factor(const std::string& name, const std::shared_ptr<const LowRankSum>& lr, const std::vector<float>& v,
                  const Shape& shape) {
    WeightData w;
    w.name = name;
    w.shape = shape;
    w.data = v.data();
    w.owner = lr;
    return g.weight(std::move(w));
  }
  int64_t channels(TensorId x) const { return g.shape(x)[1]; }
  int64_t last_dim(TensorId x) const { return g.shape(x).dims.back(); }

  // `residual` (-1: none) is added to the output inside the op (a residual connection: graph.h).
  TensorId linear(const std::string& name, TensorId x, int64_t out, bool bias = true, TensorId residual = -1) {
    const Shape shape{out, last_dim(x)};
    TensorId wt = param(name + ".weight", shape);
    TensorId b = bias ? param(name + ".bias", Shape{out}) : -1;
    if (auto lr = w.run_time_low_rank(name + ".weight", shape)) {  // + up · (down · x), beside the layer
      const int64_t r = lr->rank;
      TensorId down = factor(name + ".lora_down", lr, lr->down, Shape{r, shape[1]});
      TensorId up = factor(name + ".lora_up", lr, lr->up, Shape{out, r});
      residual = ops::linear(g, ops::linear(g, x, down), up, -1, residual);
    }
    return ops::linear(g, x, wt, b, residual);
  }
  TensorId conv(const std::string& name, TensorId x, int64_t out, int kernel, int stride = 1, int pad = -1,
                int pad_end = -1, TensorId residual = -1) {
    if (pad < 0) pad = kernel / 2;
    const Shape shape{out, channels(x), kernel, kernel};
    TensorId wt = param(name + ".weight", shape);
    TensorId b = param(name + ".bias", Shape{out});
    if (auto lr = w.run_time_low_rank(name + ".weight", shape)) {  // a k×k down conv, then a 1×1 up conv
      const int64_t r = lr->rank;
      TensorId down = factor(name + ".lora_down", lr, lr->down, Shape{r, shape[1], kernel, kernel});
      TensorId up = factor(name + ".lora_up", lr, lr->up, Shape{out, r, 1, 1});
      residual = ops::conv2d(g, ops::conv2d(g, x, down, -1, stride, pad, pad_end), up, -1, 1, 0, -1, residual);
    }
    return ops::conv2d(g, x, wt, b, stride, pad, pad_end, residual);
  }
  // conv(x) + residual for a same-size convolution (stride 1, padding kernel / 2), the add fused into the op.
  TensorId conv_residual(const std::string& name, TensorId x, int64_t out, int kernel, TensorId residual) {
    return conv(name, x, out, kernel, 1, kernel / 2, -1, residual);
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
