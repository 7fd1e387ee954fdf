#include "models/unet_blocks.h"

#include <cmath>

namespace websd {

TensorId UNetBlocks::resnet(const std::string& p, TensorId x, int64_t out) {
  const int groups = cfg.norm_num_groups;
  const float eps = cfg.norm_eps;
  TensorId h = m.group_norm(p + ".norm1", x, groups, eps, Act::kSilu);
  h = m.conv(p + ".conv1", h, out, 3);
  h = ops::add_channel(g(), h, m.linear(p + ".time_emb_proj", temb_act, out));
  h = m.group_norm(p + ".norm2", h, groups, eps, Act::kSilu);
  TensorId skip = m.channels(x) != out ? m.conv(p + ".conv_shortcut", x, out, 1) : x;
  return m.conv_residual(p + ".conv2", h, out, 3, skip);
}

TensorId UNetBlocks::attention(const std::string& p, TensorId x, TensorId ctx, int heads, TensorId residual) {
  const int64_t C = m.last_dim(x);
  TensorId q = m.linear(p + ".to_q", x, C, false);
  TensorId k = m.linear(p + ".to_k", ctx, C, false);
  TensorId v = m.linear(p + ".to_v", ctx, C, false);
  TensorId a = ops::attention(g(), q, k, v, heads, 1.0f / std::sqrt(float(C / heads)), false);
  return m.linear(p + ".to_out.0", a, C, true, residual);
}

TensorId UNetBlocks::transformer(const std::string& p, TensorId x, int heads, int layers) {
  const int64_t C = m.channels(x), H = g().shape(x)[2], W = g().shape(x)[3];
  TensorId h = m.group_norm(p + ".norm", x, cfg.norm_num_groups, 1e-6f);
  if (cfg.use_linear_projection) {
    h = m.linear(p + ".proj_in", ops::to_tokens(g(), h), C);
  } else {
    h = ops::to_tokens(g(), m.conv(p + ".proj_in", h, C, 1));
  }
  for (int l = 0; l < layers; ++l) {
    const std::string b = p + ".transformer_blocks." + std::to_string(l);
    TensorId n1 = m.layer_norm(b + ".norm1", h, 1e-5f);
    h = attention(b + ".attn1", n1, n1, heads, h);
    TensorId n2 = m.layer_norm(b + ".norm2", h, 1e-5f);
    h = attention(b + ".attn2", n2, context, heads, h);
    TensorId n3 = m.layer_norm(b + ".norm3", h, 1e-5f);
    TensorId ff = ops::geglu(g(), m.linear(b + ".ff.net.0.proj", n3, C * 8));
    h = m.linear(b + ".ff.net.2", ff, C, true, h);
  }
  if (cfg.use_linear_projection)
    return ops::add(g(), ops::to_image(g(), m.linear(p + ".proj_out", h, C), int(H), int(W)), x);
  return m.conv_residual(p + ".proj_out", ops::to_image(g(), h, int(H), int(W)), C, 1, x);
}

TensorId UNetBlocks::down(TensorId x, std::vector<TensorId>& skips) {
  const auto& ch = cfg.block_out_channels;
  const size_t nblocks = ch.size();
  skips.push_back(x);
  for (size_t i = 0; i < nblocks; ++i) {
    const std::string p = "down_blocks." + std::to_string(i);
    const bool attn = cfg.down_block_types[i] == "CrossAttnDownBlock2D";
    for (int l = 0; l < cfg.layers_per_block; ++l) {
      x = resnet(p + ".resnets." + std::to_string(l), x, ch[i]);
      if (attn) x = transformer(p + ".attentions." + std::to_string(l), x, cfg.heads[i], cfg.transformer_layers[i]);
      skips.push_back(x);
    }
    if (i + 1 < nblocks) {
      x = m.conv(p + ".downsamplers.0.conv", x, ch[i], 3, 2, 1);
      skips.push_back(x);
    }
  }
  return x;
}

TensorId UNetBlocks::mid(TensorId x) {
  if (cfg.mid_block == UNetConfig::MidBlock::kNone) return x;
  x = resnet("mid_block.resnets.0", x, cfg.block_out_channels.back());
  if (cfg.mid_block == UNetConfig::MidBlock::kCrossAttn)
    x = transformer("mid_block.attentions.0", x, cfg.heads.back(), cfg.transformer_layers.back());
  return resnet("mid_block.resnets.1", x, cfg.block_out_channels.back());
}

}  // namespace websd
