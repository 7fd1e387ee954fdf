#include "io/controlnet_source.h"

#include <filesystem>

#include "core/error.h"
#include "io/ldm_names.h"
#include "io/pack.h"
#include "io/pack_source.h"
#include "io/pipeline_folder.h"
#include "io/safetensors.h"

namespace websd {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

class ControlNetSource final : public ModelSource {
 public:
  ControlNetSource(std::string path, Config config, std::shared_ptr<WeightSource> weights)
      : path_(std::move(path)), config_(std::move(config)), weights_(std::move(weights)) {}
  std::string path() const override { return path_; }
  std::string pipeline_class() const override { return kControlNetClass; }
  bool has_component(const std::string& name) const override { return name == "controlnet"; }
  Config config(const std::string& component) const override {
    check(component);
    return config_;
  }
  std::shared_ptr<WeightSource> weights(const std::string& component) const override {
    check(component);
    return weights_;
  }
  std::string tokenizer_dir(const std::string& component) const override {
    throw Error(ErrorCode::kNotFound, path_ + ": a ControlNet has no " + component);
  }

 private:
  void check(const std::string& component) const {
    if (component != "controlnet") throw Error(ErrorCode::kNotFound, path_ + ": a ControlNet has no " + component);
  }
  std::string path_;
  Config config_;
  std::shared_ptr<WeightSource> weights_;
};

bool has_prefix(const SafetensorsFile& f, const std::string& prefix) {
  auto it = f.tensors().lower_bound(prefix);
  return it != f.tensors().end() && it->first.starts_with(prefix);
}

const Shape& shape_of(const std::vector<TensorInfo>& list, const std::string& name, const std::string& where) {
  for (const TensorInfo& t : list)
    if (t.name == name) return t.shape;
  throw Error(ErrorCode::kCorruptFile, where + ": a ControlNet needs the tensor '" + name + "', which is missing");
}

bool listed(const std::vector<TensorInfo>& list, const std::string& name) {
  for (const TensorInfo& t : list)
    if (t.name == name) return true;
  return false;
}

// The config diffusers would have saved for these (diffusers-named) tensors: the blocks from the tensors present,
// the widths from their shapes; the attention heads, which no shape holds, as SD 1.x (8 heads) and SD 2.x / SDXL
// (64-wide heads) have them.
json infer_config(const WeightSource& w) {
  const std::vector<TensorInfo> list = w.list();
  const std::string where = w.where();
  const auto shape = [&](const std::string& n) -> const Shape& { return shape_of(list, n, where); };
  json channels = json::array(), down = json::array(), heads = json::array(), depth = json::array();
  std::string first_attention;
  for (int i = 0; listed(list, "down_blocks." + std::to_string(i) + ".resnets.0.conv1.weight"); ++i) {
    const std::string b = "down_blocks." + std::to_string(i);
    const int64_t ch = shape(b + ".resnets.0.conv1.weight")[0];
    channels.push_back(ch);
    const bool attn = listed(list, b + ".attentions.0.proj_in.weight");
    down.push_back(attn ? "CrossAttnDownBlock2D" : "DownBlock2D");
    heads.push_back(ch % 64 == 0 ? ch / 64 : 1);
    int layers = 0;
    while (listed(list, b + ".attentions.0.transformer_blocks." + std::to_string(layers) + ".norm1.weight")) ++layers;
    depth.push_back(attn ? layers : 1);
    if (attn && first_attention.empty()) first_attention = b + ".attentions.0";
  }
  if (channels.empty() || first_attention.empty())
    throw Error(ErrorCode::kUnsupported, where + ": no ControlNet down blocks with attention (down_blocks.*)");
  int layers_per_block = 0;
  while (listed(list, "down_blocks.0.resnets." + std::to_string(layers_per_block) + ".conv1.weight")) ++layers_per_block;
  json hint = json::array();
  hint.push_back(shape("controlnet_cond_embedding.conv_in.weight")[0]);
  for (int i = 1; listed(list, "controlnet_cond_embedding.blocks." + std::to_string(i) + ".weight"); i += 2)
    hint.push_back(shape("controlnet_cond_embedding.blocks." + std::to_string(i) + ".weight")[0]);
  const int64_t text = shape(first_attention + ".transformer_blocks.0.attn2.to_k.weight")[1];
  bool same_depth = true;
  for (const auto& d : depth) same_depth = same_depth && d == depth[0];
  json c = {{"_class_name", kControlNetClass},
            {kGuessedHeadsKey, true},
            {"act_fn", "silu"},
            {"block_out_channels", channels},
            {"down_block_types", down},
            {"layers_per_block", layers_per_block},
            {"in_channels", shape("conv_in.weight")[1]},
            {"conditioning_channels", shape("controlnet_cond_embedding.conv_in.weight")[1]},
            {"conditioning_embedding_out_channels", hint},
            {"cross_attention_dim", text},
            {"attention_head_dim", text == 768 ? json(8) : heads},
            {"transformer_layers_per_block", same_depth ? depth[0] : depth},
            {"use_linear_projection", shape(first_attention + ".proj_in.weight").rank() == 2},
            {"mid_block_type", listed(list, "mid_block.attentions.0.proj_in.weight") ? "UNetMidBlock2DCrossAttn"
                                                                                     : "UNetMidBlock2D"}};
  if (listed(list, "add_embedding.linear_1.weight")) {  // SDXL: pooled text embeds and six 256-wide time ids
    c["addition_embed_type"] = "text_time";
    c["addition_time_embed_dim"] = 256;
    c["projection_class_embeddings_input_dim"] = shape("add_embedding.linear_1.weight")[1];
  }
  return c;
}

std::unique_ptr<ModelSource> open_file(const std::string& path) {
  SafetensorsFile f = SafetensorsFile::open(path);
  std::shared_ptr<WeightSource> weights;
  if (has_prefix(f, kLdmControlPrefix)) {
    const LdmUNetLayout layout = infer_ldm_controlnet_layout(f);
    weights = std::make_shared<MappedWeights>(path, map_ldm_controlnet(f, layout));
  } else if (f.contains("controlnet_cond_embedding.conv_in.weight")) {
    std::vector<SafetensorsFile> files;
    files.push_back(std::move(f));
    weights = std::make_shared<SafetensorsWeights>(std::move(files));
  } else {
    throw Error(ErrorCode::kUnsupported,
                path + ": no ControlNet in this file (neither control_model.* nor controlnet_cond_embedding.* "
                       "tensors): give a ControlNet .safetensors, its diffusers folder or its web pack");
  }
  // diffusers' own file next to its config (a folder's weights given alone) keeps that config.
  const fs::path beside = fs::path(path).parent_path() / "config.json";
  if (fs::exists(beside)) {
    Config c = Config::load(beside.string());
    if (c.get_string("_class_name", "") == kControlNetClass)
      return std::make_unique<ControlNetSource>(path, std::move(c), std::move(weights));
  }
  Config c(infer_config(*weights), path);
  return std::make_unique<ControlNetSource>(path, std::move(c), std::move(weights));
}

[[noreturn]] void not_a_controlnet(const std::string& path, const std::string& what) {
  throw Error(ErrorCode::kUnsupported, path + ": " + what + ", not a ControlNet: give a ControlNet folder "
                                                            "(config.json of class ControlNetModel), its .safetensors "
                                                            "or its web pack");
}

}  // namespace

bool is_controlnet(const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec))
    return !fs::exists(fs::path(path) / "model_index.json") && !fs::exists(fs::path(path) / kPackManifest) &&
           fs::exists(fs::path(path) / "config.json") &&
           Config::load((fs::path(path) / "config.json").string()).get_string("_class_name", "") == kControlNetClass;
  if (!path.ends_with(".safetensors") || !fs::is_regular_file(path, ec)) return false;
  const SafetensorsFile f = SafetensorsFile::open(path);
  return has_prefix(f, kLdmControlPrefix) || f.contains("controlnet_cond_embedding.conv_in.weight");
}

std::unique_ptr<ModelSource> open_controlnet_source(const std::string& path) {
  std::error_code ec;
  const bool dir = fs::is_directory(path, ec);
  if (!dir && !fs::exists(path, ec))
    throw Error(ErrorCode::kNotFound, path + ": no such ControlNet file or folder");
  const bool pack = dir ? fs::exists(fs::path(path) / kPackManifest) : fs::path(path).filename() == kPackManifest;
  if (pack) {
    auto src = open_pack(dir ? path : fs::path(path).parent_path().string());
    if (src->pipeline_class() != kControlNetClass) not_a_controlnet(path, "this pack holds a " + src->pipeline_class());
    return src;
  }
  if (dir) {
    if (fs::exists(fs::path(path) / "model_index.json")) not_a_controlnet(path, "this is a whole pipeline");
    const Config c = Config::load(path + "/config.json");
    const std::string cls = c.get_string("_class_name", "");
    if (cls != kControlNetClass) not_a_controlnet(path, "config.json describes a " + (cls.empty() ? "?" : cls));
    std::vector<SafetensorsFile> files;
    for (const std::string& f : find_weight_files(path)) files.push_back(SafetensorsFile::open(f));
    return std::make_unique<ControlNetSource>(path, c, std::make_shared<SafetensorsWeights>(std::move(files)));
  }
  if (!path.ends_with(".safetensors"))
    throw Error(ErrorCode::kUnsupported, path + ": a ControlNet is read from .safetensors (pickled .bin/.pth files "
                                                "are never unpickled: convert them to .safetensors first)");
  return open_file(path);
}

}  // namespace websd
