#include "models/architectures.h"

#include "core/error.h"
#include "io/model_source.h"

namespace websd {
namespace {

ClipTextConfig clip(int hidden, int layers, int heads, const char* act, int projection = 0) {
  ClipTextConfig c;
  c.hidden_size = hidden;
  c.intermediate_size = hidden * 4;
  c.num_heads = heads;
  c.num_layers = layers;
  c.act = act;
  c.projection_dim = projection;
  return c;
}

Architecture sd15() { return {"sd15", {ClipTextConfig::sd15()}, UNetConfig::sd15(), VaeConfig::sd15(), 512}; }

Architecture sd21() {
  Architecture a{"sd21", {clip(1024, 23, 16, "gelu")}, UNetConfig::sd15(), VaeConfig::sd15(), 768};
  a.unet.heads = {5, 10, 20, 20};  // 64-wide heads
  a.unet.cross_attention_dim = 1024;
  a.unet.use_linear_projection = true;
  return a;
}

Architecture sdxl() {
  // As the files hold them: 12 and 32 layers (the pooled embedding needs the last layer of the second).
  Architecture a{"sdxl", {clip(768, 12, 12, "quick_gelu"), clip(1280, 32, 20, "gelu", 1280)}, UNetConfig::sd15(),
                 VaeConfig::sd15(), 1024};
  UNetConfig& u = a.unet;
  u.block_out_channels = {320, 640, 1280};
  u.down_block_types = {"DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"};
  u.up_block_types = {"CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"};
  u.heads = {5, 10, 20};
  u.transformer_layers = {1, 2, 10};
  u.cross_attention_dim = 2048;
  u.use_linear_projection = true;
  u.text_time = true;
  u.addition_time_embed_dim = 256;
  u.projection_class_embeddings_input_dim = 2816;  // pooled 1280 + 6 time ids × 256
  a.vae.scaling_factor = 0.13025f;
  return a;
}

}  // namespace

const std::vector<std::string>& architecture_names() {
  static const std::vector<std::string> kNames = {"sd15", "sd21", "sdxl"};
  return kNames;
}

Architecture architecture(const std::string& name) {
  if (name == "sd15") return sd15();
  if (name == "sd21") return sd21();
  if (name == "sdxl") return sdxl();
  if (name.find('/') == std::string::npos)
    throw Error(ErrorCode::kInvalidArgument,
                "unknown architecture '" + name + "' (sd15, sd21, sdxl, or the path of a model to copy it from)");
  const std::unique_ptr<ModelSource> model = open_model_source(name);
  Architecture a;
  a.name = model->path();
  for (const char* te : {"text_encoder", "text_encoder_2"})
    if (model->has_component(te)) a.text_encoders.push_back(ClipTextConfig::from(model->config(te)));
  a.unet = UNetConfig::from(model->config("unet"));
  a.vae = VaeConfig::from(model->config("vae"));
  a.native_size = model->config("unet").get_int("sample_size", 64) * a.vae.downscale();
  return a;
}

}  // namespace websd
