#include "models/unet.h"

#include <cmath>

#include "core/error.h"
#include "models/module_builder.h"
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

namespace {

struct UNetBuilder {
  const UNetConfig& cfg;
  ModuleBuilder m;
  TensorId temb_act = -1;  // silu(time embedding), shared by every resnet
  TensorId context = -1;

  Graph& g() { return m.g; }

  TensorId resnet(const std::string& p, TensorId x, int64_t out) {
    const int groups = cfg.norm_num_groups;
    const float eps = cfg.norm_eps;
    TensorId h = m.group_norm(p + ".norm1", x, groups, eps, Act::kSilu);
    h = m.conv(p + ".conv1", h, out, 3);
    h = ops::add_channel(g(), h, m.linear(p + ".time_emb_proj", temb_act, out));
    h = m.group_norm(p + ".norm2", h, groups, eps, Act::kSilu);
    TensorId skip = m.channels(x) != out ? m.conv(p + ".conv_shortcut", x, out, 1) : x;
    return m.conv_residual(p + ".conv2", h, out, 3, skip);
  }

  // Multi-head attention of x over ctx, its output projection added to `residual`.
  TensorId attention(const std::string& p, TensorId x, TensorId ctx, int heads, TensorId residual) {
    const int64_t C = m.last_dim(x);
    TensorId q = m.linear(p + ".to_q", x, C, false);
    TensorId k = m.linear(p + ".to_k", ctx, C, false);
    TensorId v = m.linear(p + ".to_v", ctx, C, false);
    TensorId a = ops::attention(g(), q, k, v, heads, 1.0f / std::sqrt(float(C / heads)), false);
    return m.linear(p + ".to_out.0", a, C, true, residual);
  }

  TensorId transformer(const std::string& p, TensorId x, int heads, int layers) {
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
};

}  // namespace

UNetGraph build_unet(const UNetConfig& cfg, const WeightSource& weights, int batch, int latent_h, int latent_w,
                     int context_len) {
  auto graph = std::make_shared<Graph>();
  Graph& g = *graph;
  UNetBuilder b{cfg, ModuleBuilder{g, weights}};
  ModuleBuilder& m = b.m;
  UNetGraph out;
  out.graph = graph;
  const auto& ch = cfg.block_out_channels;
  const size_t nblocks = ch.size();
  out.sample = g.input("sample", Shape{batch, cfg.in_channels, latent_h, latent_w});
  out.time_proj = g.input("time_proj", Shape{batch, ch[0]});
  out.context = g.input("encoder_hidden_states", Shape{batch, context_len, cfg.cross_attention_dim});
  b.context = out.context;
  if (cfg.time_cond_proj_dim > 0)
    out.timestep_cond = g.input("timestep_cond", Shape{batch, cfg.time_cond_proj_dim});
  if (cfg.text_time)
    out.added_cond = g.input("added_cond", Shape{batch, cfg.projection_class_embeddings_input_dim});
  b.temb_act = ops::silu(g, time_embedding(m, cfg, {out.time_proj, out.timestep_cond, out.added_cond}));

  TensorId x = m.conv("conv_in", out.sample, ch[0], 3);
  std::vector<TensorId> skips{x};
  for (size_t i = 0; i < nblocks; ++i) {
    const std::string p = "down_blocks." + std::to_string(i);
    const bool attn = cfg.down_block_types[i] == "CrossAttnDownBlock2D";
    for (int l = 0; l < cfg.layers_per_block; ++l) {
      x = b.resnet(p + ".resnets." + std::to_string(l), x, ch[i]);
      if (attn) x = b.transformer(p + ".attentions." + std::to_string(l), x, cfg.heads[i], cfg.transformer_layers[i]);
      skips.push_back(x);
    }
    if (i + 1 < nblocks) {
      x = m.conv(p + ".downsamplers.0.conv", x, ch[i], 3, 2, 1);
      skips.push_back(x);
    }
  }

  if (cfg.mid_block != UNetConfig::MidBlock::kNone) {
    x = b.resnet("mid_block.resnets.0", x, ch.back());
    if (cfg.mid_block == UNetConfig::MidBlock::kCrossAttn)
      x = b.transformer("mid_block.attentions.0", x, cfg.heads.back(), cfg.transformer_layers.back());
    x = b.resnet("mid_block.resnets.1", x, ch.back());
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
  out.out = m.conv("conv_out", x, cfg.out_channels, 3);
  g.mark_output(out.out, "noise_pred");
  return out;
}

}  // namespace websd
