#include "io/single_file.h"

#include <filesystem>
#include <map>

#include "core/error.h"
#include "io/ldm_names.h"
#include "io/safetensors.h"

namespace websd {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

enum class Family { kSd1, kSd2 };

[[noreturn]] void unsupported(const std::string& path, const std::string& what) {
  throw Error(ErrorCode::kUnsupported,
              path + ": " + what + "; websd supports single-file Stable Diffusion 1.x and 2.x checkpoints");
}

bool has_prefix(const SafetensorsFile& f, const std::string& prefix) {
  auto it = f.tensors().lower_bound(prefix);
  return it != f.tensors().end() && it->first.starts_with(prefix);
}

const Shape& shape_of(const TensorMap& m, const std::string& name) {
  auto it = m.find(name);
  if (it == m.end())
    throw Error(ErrorCode::kUnsupported, "single-file checkpoint: no tensor maps to '" + name + "'");
  return it->second.shape;
}

int count_indexed(const TensorMap& m, const std::string& prefix, const std::string& suffix) {
  int n = 0;
  while (m.count(prefix + std::to_string(n) + suffix)) ++n;
  return n;
}

// What a file without model.diffusion_model.* holds, in words, so the user learns what they passed.
std::string describe(const SafetensorsFile& f) {
  auto any = [&](const char* needle) {
    for (const auto& [name, t] : f.tensors())
      if (name.find(needle) != std::string::npos) return true;
    return false;
  };
  std::string found;
  if (any("lora_") || any(".lora.") || any("lora_down"))
    found = "it looks like a LoRA (an add-on, not a full model)";
  else if (any("down_blocks.") || any("conv_in.weight"))
    found =
        "it uses diffusers tensor names (one component of a pipeline folder?); pass the whole pipeline "
        "folder";
  else if (has_prefix(f, "encoder.down.") || has_prefix(f, "decoder.up."))
    found = "it looks like a standalone VAE";
  else
    found = "it is not a Stable Diffusion checkpoint";
  std::string sample;
  int n = 0;
  for (auto it = f.tensors().begin(); it != f.tensors().end() && n < 3; ++it, ++n)
    sample += std::string(n ? ", " : "") + "'" + it->first + "'";
  return found + " (" + std::to_string(f.tensors().size()) + " tensors, e.g. " + sample + ")";
}

json unet_config(const TensorMap& w, const LdmUNetLayout& l, Family family, int sample_size) {
  json c = {{"_class_name", "UNet2DConditionModel"},
            {"act_fn", "silu"},
            {"center_input_sample", false},
            {"downsample_padding", 1},
            {"flip_sin_to_cos", true},
            {"freq_shift", 0},
            {"mid_block_scale_factor", 1},
            {"norm_eps", 1e-5},
            {"norm_num_groups", 32},
            {"sample_size", sample_size},
            {"layers_per_block", l.layers_per_block},
            {"in_channels", shape_of(w, "conv_in.weight")[1]},
            {"out_channels", shape_of(w, "conv_out.weight")[0]},
            {"mid_block_type", l.mid_attention ? "UNetMidBlock2DCrossAttn" : "UNetMidBlock2D"},
            // Only the 2.1 768-v model needs attention upcast in fp16; websd attends in f32 either way.
            {"upcast_attention", family == Family::kSd2}};
  json channels = json::array(), down = json::array(), up = json::array(), heads = json::array(),
       depth = json::array();
  std::string first_attention;  // any transformer, to read the cross-attention width and projection kind from
  for (int i = 0; i < l.blocks; ++i) {
    const std::string b = "down_blocks." + std::to_string(i);
    const int64_t ch = shape_of(w, b + ".resnets.0.conv1.weight")[0];
    channels.push_back(ch);
    down.push_back(l.down_attention[size_t(i)] ? "CrossAttnDownBlock2D" : "DownBlock2D");
    up.push_back(l.up_attention[size_t(i)] ? "CrossAttnUpBlock2D" : "UpBlock2D");
    // Not in the weights. SD 2.x: 64-wide heads (diffusers lists heads per block); SD 1.x: 8 heads
    // everywhere.
    heads.push_back(ch % 64 == 0 ? ch / 64 : 1);
    const std::string a = b + ".attentions.0";
    depth.push_back(
        l.down_attention[size_t(i)] ? count_indexed(w, a + ".transformer_blocks.", ".norm1.weight") : 1);
    if (first_attention.empty() && l.down_attention[size_t(i)]) first_attention = a;
  }
  if (first_attention.empty() && l.mid_attention) first_attention = "mid_block.attentions.0";
  c["block_out_channels"] = channels;
  c["down_block_types"] = down;
  c["up_block_types"] = up;
  c["attention_head_dim"] = family == Family::kSd1 ? json(8) : heads;
  bool same_depth = true;
  for (const auto& d : depth) same_depth = same_depth && d == depth[0];
  c["transformer_layers_per_block"] = same_depth ? depth[0] : depth;
  if (first_attention.empty())
    throw Error(ErrorCode::kUnsupported, "single-file checkpoint: the UNet has no attention");
  c["cross_attention_dim"] = shape_of(w, first_attention + ".transformer_blocks.0.attn2.to_k.weight")[1];
  c["use_linear_projection"] = shape_of(w, first_attention + ".proj_in.weight").rank() == 2;
  return c;
}

json vae_config(const TensorMap& w, int sample_size) {
  json channels = json::array(), down = json::array(), up = json::array();
  for (int i = 0; w.count("encoder.down_blocks." + std::to_string(i) + ".resnets.0.conv1.weight"); ++i) {
    channels.push_back(
        shape_of(w, "encoder.down_blocks." + std::to_string(i) + ".resnets.0.conv1.weight")[0]);
    down.push_back("DownEncoderBlock2D");
    up.push_back("UpDecoderBlock2D");
  }
  return {{"_class_name", "AutoencoderKL"},
          {"act_fn", "silu"},
          {"block_out_channels", channels},
          {"down_block_types", down},
          {"up_block_types", up},
          {"force_upcast", true},
          {"in_channels", shape_of(w, "encoder.conv_in.weight")[1]},
          {"out_channels", shape_of(w, "decoder.conv_out.weight")[0]},
          {"latent_channels", shape_of(w, "decoder.conv_in.weight")[1]},
          {"layers_per_block", count_indexed(w, "encoder.down_blocks.0.resnets.", ".conv1.weight")},
          {"mid_block_add_attention", w.count("encoder.mid_block.attentions.0.to_q.weight") != 0},
          {"norm_num_groups", 32},
          {"sample_size", sample_size},
          {"scaling_factor", 0.18215},  // the SD 1.x/2.x VAE's; not in the weights
          {"use_quant_conv", w.count("quant_conv.weight") != 0},
          {"use_post_quant_conv", w.count("post_quant_conv.weight") != 0}};
}

json text_config(const TensorMap& w, Family family, int64_t projection_dim) {
  const Shape& tokens = shape_of(w, "embeddings.token_embedding.weight");
  const int64_t hidden = tokens[1];
  return {{"architectures", {"CLIPTextModel"}},
          {"model_type", "clip_text_model"},
          {"vocab_size", tokens[0]},
          {"hidden_size", hidden},
          {"max_position_embeddings", shape_of(w, "embeddings.position_embedding.weight")[0]},
          {"intermediate_size", shape_of(w, "encoder.layers.0.mlp.fc1.weight")[0]},
          {"num_hidden_layers", count_indexed(w, "encoder.layers.", ".layer_norm1.weight")},
          // CLIP's heads are 64 wide: ViT-L (SD 1.x) has 12, OpenCLIP ViT-H (SD 2.x) 16. Not in the weights.
          {"num_attention_heads", hidden % 64 == 0 ? hidden / 64 : 1},
          {"hidden_act", family == Family::kSd1 ? "quick_gelu" : "gelu"},
          {"layer_norm_eps", 1e-5},
          {"projection_dim", projection_dim},
          {"bos_token_id", 49406},
          {"eos_token_id", 49407},
          {"pad_token_id", 1}};
}

// The SD 1.5 scheduler; SD 2.x differs in the prediction type.
json scheduler_config(const std::string& prediction_type) {
  return {{"_class_name", "PNDMScheduler"},
          {"beta_start", 0.00085},
          {"beta_end", 0.012},
          {"beta_schedule", "scaled_linear"},
          {"num_train_timesteps", 1000},
          {"prediction_type", prediction_type},
          {"set_alpha_to_one", false},
          {"skip_prk_steps", true},
          {"steps_offset", 1},
          {"clip_sample", false},
          {"timestep_spacing", "leading"},
          {"trained_betas", nullptr}};
}

class SingleFileSource final : public ModelSource {
 public:
  SingleFileSource(std::string path, ModelSourceOptions options)
      : path_(std::move(path)), options_(std::move(options)) {}
  std::string path() const override { return path_; }
  std::string pipeline_class() const override { return "StableDiffusionPipeline"; }
  bool has_component(const std::string& name) const override {
    return name == "tokenizer" || configs_.count(name) != 0;
  }
  Config config(const std::string& component) const override {
    auto it = configs_.find(component);
    if (it == configs_.end())
      throw Error(ErrorCode::kNotFound,
                  path_ + ": a single-file checkpoint has no config for '" + component + "'");
    return it->second;
  }
  std::shared_ptr<WeightSource> weights(const std::string& component) const override {
    auto it = weights_.find(component);
    if (it == weights_.end())
      throw Error(ErrorCode::kNotFound,
                  path_ + ": a single-file checkpoint has no weights for '" + component + "'");
    return it->second;
  }
  std::string tokenizer_dir(const std::string& component) const override;

  std::map<std::string, Config> configs_;
  std::map<std::string, std::shared_ptr<MappedWeights>> weights_;

 private:
  std::string path_;
  ModelSourceOptions options_;
};

bool is_tokenizer_folder(const fs::path& d) {
  return fs::exists(d / "tokenizer.json") || (fs::exists(d / "vocab.json") && fs::exists(d / "merges.txt"));
}

std::string SingleFileSource::tokenizer_dir(const std::string& component) const {
  if (component != "tokenizer")
    throw Error(ErrorCode::kNotFound,
                path_ + ": a single-file SD 1.x/2.x checkpoint has no '" + component + "'");
  const std::string hint =
      "Single-file checkpoints carry no tokenizer; pass a tokenizer folder (--tokenizer DIR: the tokenizer/ "
      "of any SD 1.x or 2.x "
      "diffusers model: vocab.json + merges.txt, or tokenizer.json), or put one named tokenizer/ next to the "
      "file.";
  if (!options_.tokenizer_dir.empty()) {
    const fs::path d = options_.tokenizer_dir;
    if (is_tokenizer_folder(d)) return d.string();
    if (is_tokenizer_folder(d / "tokenizer")) return (d / "tokenizer").string();  // a whole pipeline folder
    throw Error(ErrorCode::kNotFound, options_.tokenizer_dir +
                                          ": not a tokenizer folder (no vocab.json + merges.txt "
                                          "or tokenizer.json), given for " +
                                          path_ + ". " + hint);
  }
  const fs::path next_to = fs::path(path_).parent_path() / "tokenizer";
  if (fs::is_directory(next_to)) return next_to.string();
  throw Error(ErrorCode::kNotFound, path_ + ": no tokenizer. " + hint);
}

}  // namespace

std::unique_ptr<ModelSource> open_single_file(const std::string& path, const ModelSourceOptions& options) {
  const SafetensorsFile f = SafetensorsFile::open(path);
  if (has_prefix(f, "conditioner.embedders."))
    unsupported(path, "this is an SDXL checkpoint (it has conditioner.embedders.* tensors)");
  if (!has_prefix(f, kLdmUNetPrefix))
    unsupported(path, "no Stable Diffusion UNet (model.diffusion_model.*): " + describe(f));
  if (has_prefix(f, std::string(kLdmUNetPrefix) + "label_emb."))
    unsupported(path, "its UNet takes class/size embeddings (label_emb: SDXL or unCLIP)");
  const std::string conv_in = std::string(kLdmUNetPrefix) + "input_blocks.0.0.weight";
  // 4 input channels: text to image; 9: inpainting (latents, mask, masked-image latents: pipeline/family.cpp tells
  // it by the UNet's in_channels, as single files name no pipeline).
  if (f.contains(conv_in) && f.get(conv_in).shape.rank() == 4 && f.get(conv_in).shape[1] != 4 &&
      f.get(conv_in).shape[1] != 9) {
    const int64_t in = f.get(conv_in).shape[1];
    const char* kind = in == 8   ? "an InstructPix2Pix"
                       : in == 5 ? "a depth-conditioned"
                       : in == 7 ? "an upscaler"
                                 : "a non-text-to-image";
    unsupported(path, std::string("this is ") + kind + " UNet (" + std::to_string(in) +
                          " input channels; text-to-image models have 4, inpainting models 9)");
  }
  Family family;
  if (has_prefix(f, std::string(kLdmTextPrefix) + "transformer."))
    family = Family::kSd1;
  else if (has_prefix(f, std::string(kLdmTextPrefix) + "model."))
    family = Family::kSd2;
  else
    unsupported(path,
                "no text encoder (cond_stage_model.transformer.* for SD 1.x, cond_stage_model.model.* "
                "for SD 2.x) was found");
  if (!has_prefix(f, kLdmVaePrefix)) unsupported(path, "no VAE (first_stage_model.*) was found");

  const LdmUNetLayout layout = infer_ldm_unet_layout(f);
  TensorMap unet = map_ldm_unet(f, layout), vae = map_ldm_vae(f);
  TensorMap text = family == Family::kSd1 ? map_hf_clip_text(f) : map_open_clip_text(f);

  // Not in the weights: SD 2.x single files are mostly the 768-v models. Stability's ModelSpec metadata,
  // where a file has it, says which.
  std::string prediction = family == Family::kSd1 ? "epsilon" : "v_prediction";
  int sample_size = family == Family::kSd1 ? 64 : 96;
  const auto& meta = f.metadata();
  if (auto it = meta.find("modelspec.prediction_type"); it != meta.end())
    prediction = it->second == "v" ? "v_prediction" : it->second == "epsilon" ? "epsilon" : prediction;
  if (auto it = meta.find("modelspec.resolution"); it != meta.end()) {
    const int px = std::atoi(it->second.c_str());  // "768x768"
    if (px >= 64 && px % 8 == 0) sample_size = px / 8;
  }
  // OpenCLIP's text_projection is [width, projection]; diffusers' SD 2 config records it although SD never
  // uses it.
  const std::string te_proj = std::string(kLdmTextPrefix) + "model.text_projection";
  int64_t projection_dim = family == Family::kSd1 ? 768 : 512;
  if (family == Family::kSd2 && f.contains(te_proj) && f.get(te_proj).shape.rank() == 2)
    projection_dim = f.get(te_proj).shape[1];

  auto src = std::make_unique<SingleFileSource>(path, options);
  try {
    src->configs_.emplace("unet", Config(unet_config(unet, layout, family, sample_size), path));
    src->configs_.emplace("vae", Config(vae_config(vae, sample_size * 8), path));
    src->configs_.emplace("text_encoder", Config(text_config(text, family, projection_dim), path));
  } catch (const Error& e) {  // a tensor the configs are read from is missing
    unsupported(path, std::string("incomplete model: ") + e.what());
  }
  src->configs_.emplace("scheduler", Config(scheduler_config(prediction), path));
  src->weights_["unet"] = std::make_shared<MappedWeights>(path, std::move(unet));
  src->weights_["vae"] = std::make_shared<MappedWeights>(path, std::move(vae));
  src->weights_["text_encoder"] = std::make_shared<MappedWeights>(path, std::move(text));
  return src;
}

}  // namespace websd
