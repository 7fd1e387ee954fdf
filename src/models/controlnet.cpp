#include "models/controlnet.h"

#include "core/error.h"
#include "io/controlnet_source.h"
#include "models/unet_blocks.h"
#include "models/unet_embeddings.h"

namespace websd {

ControlNetConfig ControlNetConfig::from(const Config& c) {
  const std::string cls = c.get_string("_class_name", "ControlNetModel");
  if (cls != "ControlNetModel")
    c.unsupported("_class_name", "is " + cls + "; websd runs ControlNetModel (ControlNet 1.0/1.1 and their SDXL "
                                               "versions), not ControlNet-XS, union or T2I adapters");
  c.require_one_of("global_pool_conditions", {false});
  c.require_one_of("controlnet_conditioning_channel_order", {"rgb", "bgr"});
  // The encoder half is configured as the UNet is, under the same keys; its up blocks (which it has not) mirror
  // the down blocks so that the UNet's checks apply unchanged.
  nlohmann::json j = c.json();
  if (!j.is_object()) c.invalid("config", "must be a JSON object");
  if (j.contains("down_block_types") && j["down_block_types"].is_array()) {
    nlohmann::json up = nlohmann::json::array();
    for (auto it = j["down_block_types"].rbegin(); it != j["down_block_types"].rend(); ++it)
      up.push_back(*it == "CrossAttnDownBlock2D" ? "CrossAttnUpBlock2D" : "UpBlock2D");
    j["up_block_types"] = up;
  }
  j.erase("_class_name");
  ControlNetConfig cn;
  cn.unet = UNetConfig::from(Config(j, c.path()));
  cn.conditioning_channels = c.get_int("conditioning_channels", 3);
  if (cn.conditioning_channels != 3)
    c.unsupported("conditioning_channels", "is " + std::to_string(cn.conditioning_channels) +
                                               "; websd's control images have 3 channels");
  if (c.has("conditioning_embedding_out_channels"))
    cn.conditioning_embedding_out_channels = c.get_ints("conditioning_embedding_out_channels");
  if (cn.conditioning_embedding_out_channels.empty() || cn.conditioning_embedding_out_channels.size() > 6)
    c.invalid("conditioning_embedding_out_channels", "needs 1 to 6 entries");
  for (int ch : cn.conditioning_embedding_out_channels)
    if (ch < 1) c.invalid("conditioning_embedding_out_channels", "entries must be at least 1");
  cn.bgr = c.get_string("controlnet_conditioning_channel_order", "rgb") == "bgr";
  return cn;
}

ControlNetConfig ControlNetConfig::for_unet(const UNetConfig& unet) {
  ControlNetConfig cn;
  cn.unet = unet;
  return cn;
}

namespace {

// The family a UNet of this text width belongs to, for messages.
std::string family_of(const UNetConfig& u) {
  if (u.text_time) return "SDXL";
  if (u.cross_attention_dim == 768) return "SD 1.x";
  if (u.cross_attention_dim == 1024) return "SD 2.x";
  return "a model with " + std::to_string(u.cross_attention_dim) + "-wide text features";
}

std::string ints(const std::vector<int>& v) {
  std::string s;
  for (int x : v) s += (s.empty() ? "" : ",") + std::to_string(x);
  return "[" + s + "]";
}

}  // namespace

void check_controlnet_fits(const ControlNetConfig& cn, const UNetConfig& base, int vae_downscale,
                           const std::string& where) {
  const UNetConfig& u = cn.unet;
  std::string differs;
  if (u.cross_attention_dim != base.cross_attention_dim || u.text_time != base.text_time)
    differs = "it reads " + std::to_string(u.cross_attention_dim) + "-wide text features" +
              (u.text_time ? " and SDXL's size conditioning" : "") + ", the model " +
              std::to_string(base.cross_attention_dim) + "-wide" + (base.text_time ? " and SDXL's" : "");
  else if (u.block_out_channels != base.block_out_channels)
    differs = "its blocks have " + ints(u.block_out_channels) + " channels, the model's UNet " +
              ints(base.block_out_channels);
  else if (u.layers_per_block != base.layers_per_block || u.down_block_types != base.down_block_types)
    differs = "its down blocks are laid out differently from the model's UNet";
  else if (u.in_channels > base.in_channels)
    differs = "it reads " + std::to_string(u.in_channels) + "-channel latents, the model's UNet " +
              std::to_string(base.in_channels);
  else if (cn.downscale() != vae_downscale)
    differs = "its control image is 1/" + std::to_string(cn.downscale()) + " of the latents' scale, the model's 1/" +
              std::to_string(vae_downscale);
  else if (u.time_cond_proj_dim != 0 && u.time_cond_proj_dim != base.time_cond_proj_dim)
    differs = "it takes a guidance embedding the model's UNet does not";
  if (!differs.empty())
    throw Error(ErrorCode::kInvalidArgument, where + ": this ControlNet was made for " + family_of(u) +
                                                 " and the model is " + family_of(base) + " (" + differs +
                                                 "): use a ControlNet trained for this model's family");
}

ControlNetModel ControlNetModel::open(const std::string& path) {
  auto src = open_controlnet_source(path);
  const Config c = src->config("controlnet");
  return {path, ControlNetConfig::from(c), src->weights("controlnet"), c.get_bool(kGuessedHeadsKey, false)};
}

void ControlNetModel::fit_to(const UNetConfig& base, int vae_downscale) {
  check_controlnet_fits(cfg, base, vae_downscale, path);
  if (guessed_heads) cfg.unet.heads = base.heads;
}

UNetResiduals add_controlnet(const ControlNetConfig& cfg, const WeightSource& weights, UNetGraph& net) {
  Graph& g = *net.graph;
  const UNetConfig& u = cfg.unet;
  const Shape sample = g.shape(net.sample);  // a copy: adding nodes moves the graph's shapes
  const std::string k = std::to_string(net.control_images.size());
  const int64_t batch = sample[0];
  const TensorId image = g.input("control_image_" + k, Shape{batch, cfg.conditioning_channels,
                                                             sample[2] * cfg.downscale(), sample[3] * cfg.downscale()});
  const TensorId scale = g.input("control_scale_" + k, Shape{1});
  net.control_images.push_back(image);
  net.control_scales.push_back(scale);

  UNetBlocks b{u, ModuleBuilder{g, weights}};
  ModuleBuilder& m = b.m;
  b.context = net.context;
  b.temb_act = ops::silu(g, time_embedding(m, u, {net.time_proj, u.time_cond_proj_dim > 0 ? net.timestep_cond : -1,
                                                  u.text_time ? net.added_cond : -1}));
  // An inpainting UNet's extra input channels (mask, masked image) are not the ControlNet's: it reads the latents.
  const TensorId latents = sample[1] == u.in_channels ? net.sample : ops::slice_channels(g, net.sample, 0, u.in_channels);
  const TensorId x = m.conv("conv_in", latents, u.block_out_channels[0], 3);

  // ControlNetConditioningEmbedding: the image down to the latents' size, added to conv_in's output.
  const auto& emb = cfg.conditioning_embedding_out_channels;
  const std::string e = "controlnet_cond_embedding.";
  TensorId h = ops::silu(g, m.conv(e + "conv_in", image, emb[0], 3));
  for (size_t i = 0; i + 1 < emb.size(); ++i) {
    h = ops::silu(g, m.conv(e + "blocks." + std::to_string(2 * i), h, emb[i], 3));
    h = ops::silu(g, m.conv(e + "blocks." + std::to_string(2 * i + 1), h, emb[i + 1], 3, 2, 1));
  }
  std::vector<TensorId> skips;
  const TensorId bottom =
      b.mid(b.down(m.conv_residual(e + "conv_out", h, u.block_out_channels[0], 3, x), skips));

  UNetResiduals r;
  for (size_t i = 0; i < skips.size(); ++i)
    r.down.push_back(ops::mul(
        g, m.conv("controlnet_down_blocks." + std::to_string(i), skips[i], m.channels(skips[i]), 1), scale));
  r.mid = ops::mul(g, m.conv("controlnet_mid_block", bottom, m.channels(bottom), 1), scale);
  return r;
}

UNetGraph build_controlnet(const ControlNetConfig& cfg, const WeightSource& weights, const UNetConfig& base, int batch,
                           int latent_h, int latent_w, int context_len) {
  UNetGraph net = unet_inputs(base, batch, latent_h, latent_w, context_len);
  const UNetResiduals r = add_controlnet(cfg, weights, net);
  for (size_t i = 0; i < r.down.size(); ++i) net.graph->mark_output(r.down[i], "down_" + std::to_string(i));
  net.graph->mark_output(r.mid, "mid");
  return net;
}

UNetGraph build_controlled_unet(const UNetConfig& cfg, const WeightSource& weights,
                                const std::vector<ControlNetUse>& controls, int batch, int latent_h, int latent_w,
                                int context_len) {
  UNetGraph net = unet_inputs(cfg, batch, latent_h, latent_w, context_len);
  if (controls.empty()) {
    add_unet_layers(cfg, weights, net);
    return net;
  }
  UNetResiduals sum;
  for (const ControlNetUse& c : controls) {
    UNetResiduals r = add_controlnet(*c.cfg, *c.weights, net);
    if (sum.down.empty()) {
      sum = std::move(r);
      continue;
    }
    if (r.down.size() != sum.down.size())
      throw Error(ErrorCode::kInvalidArgument, "the ControlNets have different numbers of blocks");
    for (size_t i = 0; i < r.down.size(); ++i) sum.down[i] = ops::add(*net.graph, sum.down[i], r.down[i]);
    sum.mid = ops::add(*net.graph, sum.mid, r.mid);
  }
  add_unet_layers(cfg, weights, net, &sum);
  return net;
}

std::vector<float> control_image_planes(const ControlNetConfig& cfg, const std::vector<float>& rgb, int width,
                                        int height) {
  const size_t n = size_t(width) * size_t(height);
  if (rgb.size() != n * 3)
    throw Error(ErrorCode::kShapeMismatch, "control image: " + std::to_string(rgb.size()) + " values for " +
                                               std::to_string(width) + "x" + std::to_string(height) + " RGB pixels");
  std::vector<float> planes(n * 3);
  for (size_t p = 0; p < n; ++p)
    for (size_t c = 0; c < 3; ++c) planes[(cfg.bgr ? 2 - c : c) * n + p] = rgb[p * 3 + c];
  return planes;
}

}  // namespace websd
