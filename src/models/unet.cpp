#include "models/unet.h"

#include <cmath>

#include "core/error.h"
#include "models/module_builder.h"
#include "models/unet_blocks.h"
#include "models/unet_embeddings.h"

namespace websd {

UNetConfig UNetConfig::from(const Config& c) {
  // Everything that changes the computation and that websd does not implement is refused by name.
  c.require_one_of("act_fn", {"silu"});
  c.require_one_of("addition_embed_type", {"text_time"});
  c.require_one_of("class_embed_type", {});
  c.require_one_of("num_class_embeds", {});
  c.require_one_of("encoder_hid_dim", {});
  c.require_one_of("encoder_hid_dim_type", {});
  c.require_one_of("time_embedding_type", {"positional"});
  c.require_one_of("time_embedding_dim", {});
  c.require_one_of("time_embedding_act_fn", {});
  c.require_one_of("timestep_post_act", {});
  c.require_one_of("resnet_time_scale_shift", {"default"});
  c.require_one_of("resnet_skip_time_act", {false});
  c.require_one_of("resnet_out_scale_factor", {1.0, 1});
  c.require_one_of("mid_block_scale_factor", {1.0, 1});
  c.require_one_of("center_input_sample", {false});
  c.require_one_of("conv_in_kernel", {3});
  c.require_one_of("conv_out_kernel", {3});
  c.require_one_of("downsample_padding", {1});
  c.require_one_of("only_cross_attention", {false});
  c.require_one_of("dual_cross_attention", {false});
  c.require_one_of("attention_type", {"default"});
  c.require_one_of("cross_attention_norm", {});
  c.require_one_of("class_embeddings_concat", {false});
  c.require_one_of("mid_block_only_cross_attention", {false});
  c.require_one_of("reverse_transformer_layers_per_block", {});
  c.require_one_of("mid_block_type", {"UNetMidBlock2DCrossAttn", "UNetMidBlock2D"});

  UNetConfig u;
  u.in_channels = c.get_int("in_channels", 4);
  u.out_channels = c.get_int("out_channels", 4);
  u.block_out_channels = c.get_ints("block_out_channels");
  const size_t n = u.block_out_channels.size();
  u.down_block_types = c.get_strings("down_block_types");
  u.up_block_types = c.get_strings("up_block_types");
  if (u.down_block_types.size() != n || u.up_block_types.size() != n)
    c.invalid("down_block_types", "and up_block_types must have one entry per block_out_channels entry");
  for (const auto& t : u.down_block_types)
    if (t != "CrossAttnDownBlock2D" && t != "DownBlock2D")
      c.unsupported("down_block_types", "contains " + t + "; websd supports CrossAttnDownBlock2D and DownBlock2D");
  for (const auto& t : u.up_block_types)
    if (t != "CrossAttnUpBlock2D" && t != "UpBlock2D")
      c.unsupported("up_block_types", "contains " + t + "; websd supports CrossAttnUpBlock2D and UpBlock2D");
  u.layers_per_block = c.get_int("layers_per_block", 2);
  if (c.has("layers_per_block") && !c.json()["layers_per_block"].is_number_integer())
    c.unsupported("layers_per_block", "must be one integer");
  // diffusers: num_attention_heads = num_attention_heads or attention_head_dim (a historical naming mistake).
  u.heads = c.has("num_attention_heads") ? c.get_int_or_list("num_attention_heads", n)
                                         : c.get_int_or_list("attention_head_dim", n);
  u.transformer_layers = c.has("transformer_layers_per_block") ? c.get_int_or_list("transformer_layers_per_block", n)
                                                               : std::vector<int>(n, 1);
  u.cross_attention_dim = c.get_int("cross_attention_dim");
  u.use_linear_projection = c.get_bool("use_linear_projection", false);
  u.norm_num_groups = c.get_int("norm_num_groups", 32);
  u.norm_eps = float(c.get_number("norm_eps", 1e-5));
  u.flip_sin_to_cos = c.get_bool("flip_sin_to_cos", true);
  u.freq_shift = float(c.get_number("freq_shift", 0));
  if (c.json().contains("mid_block_type") && c.json()["mid_block_type"].is_null())
    u.mid_block = MidBlock::kNone;
  else if (c.get_string("mid_block_type", "UNetMidBlock2DCrossAttn") == "UNetMidBlock2D")
    u.mid_block = MidBlock::kPlain;
  u.time_cond_proj_dim = c.get_int("time_cond_proj_dim", 0);
  if (c.has("time_cond_proj_dim") && u.time_cond_proj_dim < 2)
    c.invalid("time_cond_proj_dim", "must be at least 2");
  u.text_time = c.get_string("addition_embed_type", "") == "text_time";
  if (u.text_time) {
    u.addition_time_embed_dim = c.get_int("addition_time_embed_dim");
    u.projection_class_embeddings_input_dim = c.get_int("projection_class_embeddings_input_dim");
    if (u.addition_time_embed_dim < 1 || u.projection_class_embeddings_input_dim <= 6 * u.addition_time_embed_dim)
      c.invalid("projection_class_embeddings_input_dim",
                "must exceed 6 x addition_time_embed_dim (the pooled text embeds come first)");
  }
  if (u.norm_num_groups < 1) c.invalid("norm_num_groups", "must be at least 1");  // divisors below
  for (size_t i = 0; i < n; ++i) {
    if (u.block_out_channels[i] < 1) c.invalid("block_out_channels", "entries must be at least 1");
    if (u.heads[i] < 1) c.invalid("attention_head_dim", "head counts and widths must be at least 1");
    if (u.block_out_channels[i] % u.norm_num_groups != 0)
      c.invalid("block_out_channels", "entries must be multiples of norm_num_groups");
    if (u.block_out_channels[i] % u.heads[i] != 0)
      c.invalid("attention_head_dim", "head counts must divide the block's channels");
  }
  return u;
}

UNetConfig UNetConfig::sd15() { return UNetConfig{}; }

void unet_time_features(const UNetConfig& cfg, float timestep, float* dst) {
  timestep_features(timestep, cfg.block_out_channels[0], cfg.flip_sin_to_cos, cfg.freq_shift, dst);
}

UNetGraph unet_inputs(const UNetConfig& cfg, int batch, int latent_h, int latent_w, int context_len) {
  UNetGraph net;
  net.graph = std::make_shared<Graph>();
  Graph& g = *net.graph;
  net.sample = g.input("sample", Shape{batch, cfg.in_channels, latent_h, latent_w});
  net.time_proj = g.input("time_proj", Shape{batch, cfg.block_out_channels[0]});
  net.context = g.input("encoder_hidden_states", Shape{batch, context_len, cfg.cross_attention_dim});
  if (cfg.time_cond_proj_dim > 0) net.timestep_cond = g.input("timestep_cond", Shape{batch, cfg.time_cond_proj_dim});
  if (cfg.text_time)
    net.added_cond = g.input("added_cond", Shape{batch, cfg.projection_class_embeddings_input_dim});
  return net;
}

void add_unet_layers(const UNetConfig& cfg, const WeightSource& weights, UNetGraph& net,
                     const UNetResiduals* residuals) {
  Graph& g = *net.graph;
  UNetBlocks b{cfg, ModuleBuilder{g, weights}};
  ModuleBuilder& m = b.m;
  const auto& ch = cfg.block_out_channels;
  const size_t nblocks = ch.size();
  b.context = net.context;
  b.temb_act = ops::silu(g, time_embedding(m, cfg, {net.time_proj, net.timestep_cond, net.added_cond}));

  std::vector<TensorId> skips;
  TensorId x = b.mid(b.down(m.conv("conv_in", net.sample, ch[0], 3), skips));
  if (residuals) {
    if (residuals->down.size() != skips.size())
      throw Error(ErrorCode::kShapeMismatch, "the UNet has " + std::to_string(skips.size()) +
                                                 " skip connections, the ControlNet residuals are " +
                                                 std::to_string(residuals->down.size()));
    for (size_t i = 0; i < skips.size(); ++i) skips[i] = ops::add(g, skips[i], residuals->down[i]);
    x = ops::add(g, x, residuals->mid);
  }

  for (size_t i = 0; i < nblocks; ++i) {
    const size_t rev = nblocks - 1 - i;  // up block i mirrors down block rev
    const std::string p = "up_blocks." + std::to_string(i);
    const bool attn = cfg.up_block_types[i] == "CrossAttnUpBlock2D";
    for (int l = 0; l <= cfg.layers_per_block; ++l) {
      TensorId skip = skips.back();
      skips.pop_back();
      x = b.resnet(p + ".resnets." + std::to_string(l), ops::concat(g, x, skip), ch[rev]);
      if (attn) x = b.transformer(p + ".attentions." + std::to_string(l), x, cfg.heads[rev],
                                  cfg.transformer_layers[rev]);
    }
    if (i + 1 < nblocks) {
      // Upsample to the size of the skip it will meet (odd latent sizes round differently than 2x).
      const Shape& next = g.shape(skips.back());
      x = m.conv(p + ".upsamplers.0.conv", ops::upsample(g, x, next[2], next[3]), ch[rev], 3);
    }
  }
  x = m.group_norm("conv_norm_out", x, cfg.norm_num_groups, cfg.norm_eps, Act::kSilu);
  net.out = m.conv("conv_out", x, cfg.out_channels, 3);
  g.mark_output(net.out, "noise_pred");
}

UNetGraph build_unet(const UNetConfig& cfg, const WeightSource& weights, int batch, int latent_h, int latent_w,
                     int context_len) {
  UNetGraph net = unet_inputs(cfg, batch, latent_h, latent_w, context_len);
  add_unet_layers(cfg, weights, net);
  return net;
}

}  // namespace websd
