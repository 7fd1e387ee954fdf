#include "models/synthetic_source.h"

#include <filesystem>
#include <map>

#include "core/error.h"

namespace websd {
namespace {
using nlohmann::json;

json unet_json(const UNetConfig& u, int sample_size) {
  json c = {{"_class_name", "UNet2DConditionModel"},
            {"sample_size", sample_size},
            {"in_channels", u.in_channels},
            {"out_channels", u.out_channels},
            {"block_out_channels", u.block_out_channels},
            {"down_block_types", u.down_block_types},
            {"up_block_types", u.up_block_types},
            {"layers_per_block", u.layers_per_block},
            {"attention_head_dim", u.heads},  // diffusers' name for the head counts
            {"transformer_layers_per_block", u.transformer_layers},
            {"cross_attention_dim", u.cross_attention_dim},
            {"use_linear_projection", u.use_linear_projection},
            {"norm_num_groups", u.norm_num_groups},
            {"norm_eps", u.norm_eps},
            {"flip_sin_to_cos", u.flip_sin_to_cos},
            {"freq_shift", u.freq_shift},
            {"mid_block_type", u.mid_block == UNetConfig::MidBlock::kPlain ? "UNetMidBlock2D" : "UNetMidBlock2DCrossAttn"}};
  if (u.time_cond_proj_dim) c["time_cond_proj_dim"] = u.time_cond_proj_dim;
  if (u.text_time) {
    c["addition_embed_type"] = "text_time";
    c["addition_time_embed_dim"] = u.addition_time_embed_dim;
    c["projection_class_embeddings_input_dim"] = u.projection_class_embeddings_input_dim;
  }
  return c;
}

json vae_json(const VaeConfig& v, int sample_size) {
  const std::vector<std::string> down(v.block_out_channels.size(), "DownEncoderBlock2D"),
      up(v.block_out_channels.size(), "UpDecoderBlock2D");
  return {{"_class_name", "AutoencoderKL"},
          {"sample_size", sample_size},
          {"in_channels", v.in_channels},
          {"out_channels", v.out_channels},
          {"latent_channels", v.latent_channels},
          {"block_out_channels", v.block_out_channels},
          {"down_block_types", down},
          {"up_block_types", up},
          {"layers_per_block", v.layers_per_block},
          {"norm_num_groups", v.norm_num_groups},
          {"mid_block_add_attention", v.mid_block_attention},
          {"use_quant_conv", v.use_quant_conv},
          {"use_post_quant_conv", v.use_post_quant_conv},
          {"scaling_factor", v.scaling_factor},
          {"shift_factor", v.shift_factor}};
}

json text_json(const ClipTextConfig& t) {
  json c = {{"architectures", {t.projection_dim ? "CLIPTextModelWithProjection" : "CLIPTextModel"}},
            {"vocab_size", t.vocab_size},
            {"hidden_size", t.hidden_size},
            {"intermediate_size", t.intermediate_size},
            {"num_attention_heads", t.num_heads},
            {"num_hidden_layers", t.num_layers},
            {"max_position_embeddings", t.max_positions},
            {"hidden_act", t.act},
            {"layer_norm_eps", t.eps},
            {"eos_token_id", t.eos_token_id}};
  if (t.projection_dim) c["projection_dim"] = t.projection_dim;
  return c;
}

// The schedulers the real checkpoints ship: PNDM for SD 1.5, DDIM with v-prediction for SD 2.1 768, Euler for SDXL.
json scheduler_json(const std::string& arch) {
  json c = {{"num_train_timesteps", 1000}, {"beta_start", 0.00085}, {"beta_end", 0.012},
            {"beta_schedule", "scaled_linear"}, {"steps_offset", 1}};
  if (arch == "sd15") {
    c.update({{"_class_name", "PNDMScheduler"}, {"skip_prk_steps", true}, {"set_alpha_to_one", false},
              {"prediction_type", "epsilon"}});
  } else if (arch == "sd21") {
    c.update({{"_class_name", "DDIMScheduler"}, {"clip_sample", false}, {"set_alpha_to_one", false},
              {"prediction_type", "v_prediction"}});
  } else {
    c.update({{"_class_name", "EulerDiscreteScheduler"}, {"prediction_type", "epsilon"},
              {"timestep_spacing", "leading"}});
  }
  return c;
}

class SyntheticSource final : public ModelSource {
 public:
  SyntheticSource(const Architecture& arch, std::string tokenizer_dir)
      : arch_(arch), tokenizer_dir_(std::move(tokenizer_dir)) {
    const int latent = arch.native_size / arch.vae.downscale();
    configs_["unet"] = unet_json(arch.unet, latent);
    configs_["vae"] = vae_json(arch.vae, arch.native_size);
    configs_["scheduler"] = scheduler_json(arch.name);
    configs_["text_encoder"] = text_json(arch.text_encoders.at(0));
    if (arch.text_encoders.size() > 1) configs_["text_encoder_2"] = text_json(arch.text_encoders[1]);
  }

  std::string path() const override { return "synthetic " + arch_.name; }
  std::string pipeline_class() const override {
    return arch_.unet.text_time ? "StableDiffusionXLPipeline" : "StableDiffusionPipeline";
  }
  Config pipeline_config() const override {
    return Config(json{{"_class_name", pipeline_class()}, {"force_zeros_for_empty_prompt", true}}, path());
  }
  bool has_component(const std::string& name) const override {
    if (name == "tokenizer") return true;
    if (name == "tokenizer_2") return configs_.count("text_encoder_2") != 0;
    return configs_.count(name) != 0;
  }
  Config config(const std::string& component) const override {
    auto it = configs_.find(component);
    if (it == configs_.end())
      throw Error(ErrorCode::kNotFound, path() + ": no component " + component);
    return Config(it->second, path() + "/" + component);
  }
  std::shared_ptr<WeightSource> weights(const std::string&) const override {
    return std::make_shared<RandomWeights>(DType::kF16);
  }
  std::string tokenizer_dir(const std::string&) const override { return tokenizer_dir_; }

 private:
  Architecture arch_;
  std::string tokenizer_dir_;
  std::map<std::string, json> configs_;
};

}  // namespace

std::unique_ptr<ModelSource> synthetic_model_source(const Architecture& arch, const std::string& tokenizer_dir) {
  namespace fs = std::filesystem;
  if (!fs::exists(fs::path(tokenizer_dir) / "vocab.json") && !fs::exists(fs::path(tokenizer_dir) / "tokenizer.json"))
    throw Error(ErrorCode::kNotFound, tokenizer_dir + ": not a CLIP tokenizer folder (vocab.json + merges.txt, or "
                                                      "tokenizer.json); synthetic models still need a real tokenizer");
  return std::make_unique<SyntheticSource>(arch, tokenizer_dir);
}

}  // namespace websd
