// The blocks a UNet2DConditionModel is made of, shared by the UNet and the ControlNet (whose encoder half is a
// copy of the UNet's: the same down and mid blocks under the same names).
#pragma once

#include <string>
#include <vector>

#include "core/graph.h"
#include "models/module_builder.h"
#include "models/unet.h"

namespace websd {

struct UNetBlocks {
  const UNetConfig& cfg;
  ModuleBuilder m;
  TensorId temb_act = -1;  // silu(time embedding), shared by every resnet
  TensorId context = -1;   // the text features [B, tokens, cross_attention_dim]

  Graph& g() { return m.g; }

  TensorId resnet(const std::string& p, TensorId x, int64_t out);
  // Multi-head attention of x over ctx, its output projection added to `residual`.
  TensorId attention(const std::string& p, TensorId x, TensorId ctx, int heads, TensorId residual);
  TensorId transformer(const std::string& p, TensorId x, int heads, int layers);
  // conv_in's output through the down blocks: the lowest-resolution features. `skips` receives every skip
  // connection in order, conv_in's output first (diffusers' down_block_res_samples).
  TensorId down(TensorId x, std::vector<TensorId>& skips);
  // The mid block (x itself where the config has none).
  TensorId mid(TensorId x);
};

}  // namespace websd
