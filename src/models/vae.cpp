#include "models/vae.h"

#include <cmath>

#include "models/module_builder.h"

namespace websd {

VaeConfig VaeConfig::from(const Config& c) {
  c.require_one_of("act_fn", {"silu"});
  c.require_one_of("latents_mean", {});
  c.require_one_of("latents_std", {});
  VaeConfig v;
  v.in_channels = c.get_int("in_channels", 3);
  v.out_channels = c.get_int("out_channels", 3);
  v.latent_channels = c.get_int("latent_channels", 4);
  v.block_out_channels = c.get_ints("block_out_channels");
  v.layers_per_block = c.get_int("layers_per_block", 1);
  v.norm_num_groups = c.get_int("norm_num_groups", 32);
  v.mid_block_attention = c.get_bool("mid_block_add_attention", true);
  v.use_quant_conv = c.get_bool("use_quant_conv", true);
  v.use_post_quant_conv = c.get_bool("use_post_quant_conv", true);
  v.scaling_factor = float(c.get_number("scaling_factor", 0.18215));
  v.shift_factor = float(c.get_number("shift_factor", 0.0));
  for (const auto& t : c.has("down_block_types") ? c.get_strings("down_block_types") : std::vector<std::string>{})
    if (t != "DownEncoderBlock2D") c.unsupported("down_block_types", "contains " + t + "; websd supports DownEncoderBlock2D");
  for (const auto& t : c.has("up_block_types") ? c.get_strings("up_block_types") : std::vector<std::string>{})
    if (t != "UpDecoderBlock2D") c.unsupported("up_block_types", "contains " + t + "; websd supports UpDecoderBlock2D");
  if (v.norm_num_groups < 1) c.invalid("norm_num_groups", "must be at least 1");  // a divisor below
  for (int ch : v.block_out_channels)
    if (ch < 1 || ch % v.norm_num_groups != 0) c.invalid("block_out_channels", "entries must be multiples of norm_num_groups");
  return v;
}

VaeConfig VaeConfig::sd15() { return VaeConfig{}; }

namespace {

struct VaeBuilder {
  const VaeConfig& cfg;
  ModuleBuilder m;

  TensorId resnet(const std::string& p, TensorId x, int64_t out) {
    TensorId h = m.group_norm(p + ".norm1", x, cfg.norm_num_groups, 1e-6f, Act::kSilu);
    h = m.conv(p + ".conv1", h, out, 3);
    h = m.group_norm(p + ".norm2", h, cfg.norm_num_groups, 1e-6f, Act::kSilu);
    TensorId skip = m.channels(x) != out ? m.conv(p + ".conv_shortcut", x, out, 1) : x;
    return m.conv_residual(p + ".conv2", h, out, 3, skip);
  }

  // Single-head self-attention over all pixels. Older diffusers checkpoints name the projections
  // query/key/value/proj_attn instead of to_q/to_k/to_v/to_out.0; both load.
  TensorId attention(const std::string& p, TensorId x) {
    Graph& g = m.g;
    const int64_t C = m.channels(x), H = g.shape(x)[2], W = g.shape(x)[3];
    const bool legacy = !m.w.contains(p + ".to_q.weight") && m.w.contains(p + ".query.weight");
    TensorId h = ops::to_tokens(g, m.group_norm(p + ".group_norm", x, cfg.norm_num_groups, 1e-6f));
    TensorId q = m.linear(p + (legacy ? ".query" : ".to_q"), h, C);
    TensorId k = m.linear(p + (legacy ? ".key" : ".to_k"), h, C);
    TensorId v = m.linear(p + (legacy ? ".value" : ".to_v"), h, C);
    TensorId a = ops::attention(g, q, k, v, 1, 1.0f / std::sqrt(float(C)), false);
    a = m.linear(p + (legacy ? ".proj_attn" : ".to_out.0"), a, C);
    return ops::add(g, ops::to_image(g, a, int(H), int(W)), x);
  }

  TensorId mid_block(const std::string& p, TensorId x) {
    const int64_t C = m.channels(x);
    x = resnet(p + ".resnets.0", x, C);
    if (cfg.mid_block_attention) x = attention(p + ".attentions.0", x);
    return resnet(p + ".resnets.1", x, C);
  }
};

}  // namespace

VaeDecoderGraph build_vae_decoder(const VaeConfig& cfg, const WeightSource& weights, int batch, int latent_h,
                                  int latent_w) {
  auto graph = std::make_shared<Graph>();
  Graph& g = *graph;
  VaeBuilder b{cfg, ModuleBuilder{g, weights}};
  ModuleBuilder& m = b.m;
  VaeDecoderGraph out;
  out.graph = graph;
  out.latents = g.input("latents", Shape{batch, cfg.latent_channels, latent_h, latent_w});
  TensorId x = out.latents;
  if (cfg.use_post_quant_conv) x = m.conv("post_quant_conv", x, cfg.latent_channels, 1);
  const std::vector<int> ch(cfg.block_out_channels.rbegin(), cfg.block_out_channels.rend());
  x = m.conv("decoder.conv_in", x, ch[0], 3);
  x = b.mid_block("decoder.mid_block", x);
  for (size_t i = 0; i < ch.size(); ++i) {
    const std::string p = "decoder.up_blocks." + std::to_string(i);
    for (int l = 0; l <= cfg.layers_per_block; ++l) x = b.resnet(p + ".resnets." + std::to_string(l), x, ch[i]);
    if (i + 1 < ch.size()) {
      const Shape& s = g.shape(x);
      x = m.conv(p + ".upsamplers.0.conv", ops::upsample(g, x, s[2] * 2, s[3] * 2), ch[i], 3);
    }
  }
  x = m.group_norm("decoder.conv_norm_out", x, cfg.norm_num_groups, 1e-6f, Act::kSilu);
  out.image = m.conv("decoder.conv_out", x, cfg.out_channels, 3);
  g.mark_output(out.image, "image");
  return out;
}

VaeEncoderGraph build_vae_encoder(const VaeConfig& cfg, const WeightSource& weights, int batch, int height, int width) {
  auto graph = std::make_shared<Graph>();
  Graph& g = *graph;
  VaeBuilder b{cfg, ModuleBuilder{g, weights}};
  ModuleBuilder& m = b.m;
  VaeEncoderGraph out;
  out.graph = graph;
  out.image = g.input("image", Shape{batch, cfg.in_channels, height, width});
  const auto& ch = cfg.block_out_channels;
  TensorId x = m.conv("encoder.conv_in", out.image, ch[0], 3);
  for (size_t i = 0; i < ch.size(); ++i) {
    const std::string p = "encoder.down_blocks." + std::to_string(i);
    for (int l = 0; l < cfg.layers_per_block; ++l) x = b.resnet(p + ".resnets." + std::to_string(l), x, ch[i]);
    // diffusers pads right and bottom by one, then convolves with stride 2 and no padding.
    if (i + 1 < ch.size()) x = m.conv(p + ".downsamplers.0.conv", x, ch[i], 3, 2, 0, 1);
  }
  x = b.mid_block("encoder.mid_block", x);
  x = m.group_norm("encoder.conv_norm_out", x, cfg.norm_num_groups, 1e-6f, Act::kSilu);
  x = m.conv("encoder.conv_out", x, 2 * cfg.latent_channels, 3);
  if (cfg.use_quant_conv) x = m.conv("quant_conv", x, 2 * cfg.latent_channels, 1);
  out.moments = x;
  g.mark_output(out.moments, "moments");
  return out;
}

}  // namespace websd
