#include "adapters/lora.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "core/error.h"
#include "core/low_rank.h"
#include "models/unet.h"

namespace websd {

namespace {

bool ends_with(const std::string& s, const std::string& suffix, std::string* stem) {
  if (!s.ends_with(suffix)) return false;
  *stem = s.substr(0, s.size() - suffix.size());
  return true;
}

std::string underscored(std::string s) {
  std::replace(s.begin(), s.end(), '.', '_');
  return s;
}

// The stored key of a layer -> component and layer name (false for a key of no known scheme).
bool split_component(const std::string& key, LoraModule& m) {
  static const std::pair<const char*, const char*> kKohya[] = {
      {"lora_unet_", "unet"}, {"lora_te1_", "text_encoder"}, {"lora_te2_", "text_encoder_2"}, {"lora_te_", "text_encoder"}};
  static const std::pair<const char*, const char*> kDiffusers[] = {
      {"unet.", "unet"}, {"text_encoder_2.", "text_encoder_2"}, {"text_encoder.", "text_encoder"}};
  for (const auto& [prefix, component] : kKohya)
    if (key.starts_with(prefix)) {
      m.component = component;
      m.module = key.substr(std::strlen(prefix));
      m.underscored = true;
      if (m.component != "unet" && m.module.starts_with("text_model_")) m.module = m.module.substr(11);
      return true;
    }
  for (const auto& [prefix, component] : kDiffusers)
    if (key.starts_with(prefix)) {
      m.component = component;
      m.module = key.substr(std::strlen(prefix));
      if (m.component != "unet" && m.module.starts_with("text_model.")) m.module = m.module.substr(11);
      // diffusers' older attention-processor names: attn1.processor.to_q_lora -> attn1.to_q, to_out_lora ->
      // to_out.0 (and the text encoder's q_proj.lora_linear_layer is q_proj with the suffix already cut).
      const size_t p = m.module.find(".processor.");
      if (p != std::string::npos) {
        std::string proj = m.module.substr(p + 11);
        if (proj.ends_with("_lora")) proj.resize(proj.size() - 5);
        if (proj == "to_out") proj = "to_out.0";
        m.module = m.module.substr(0, p + 1) + proj;
      }
      return true;
    }
  return false;
}

// SDXL's kohya LoRAs name UNet layers as the original (SGM) checkpoint does: input_blocks_4_1_… ->
// down_blocks_1_attentions_0_…, in the '_' form. "" where the name is not of that form.
std::string sgm_to_diffusers(const std::string& s, const UNetConfig& cfg) {
  const int per_down = cfg.layers_per_block + 1, per_up = cfg.layers_per_block + 1;
  const auto resnet = [](const std::string& rest) -> std::string {
    static const std::pair<const char*, const char*> kNames[] = {{"in_layers_2", "conv1"}, {"out_layers_3", "conv2"},
                                                                 {"emb_layers_1", "time_emb_proj"},
                                                                 {"skip_connection", "conv_shortcut"}};
    for (const auto& [from, to] : kNames)
      if (rest == from) return to;
    return "";
  };
  // "<a>_<b>_<rest>" -> a, b, rest
  const auto two_ints = [](const std::string& t, int& a, int& b, std::string& rest) {
    size_t i = 0, j;
    a = std::atoi(t.c_str());
    if ((i = t.find('_')) == std::string::npos) return false;
    b = std::atoi(t.c_str() + i + 1);
    if ((j = t.find('_', i + 1)) == std::string::npos) { rest.clear(); return true; }
    rest = t.substr(j + 1);
    return true;
  };
  int a = 0, b = 0;
  std::string rest, out;
  if (s.starts_with("input_blocks_") && two_ints(s.substr(13), a, b, rest)) {
    if (a == 0) return b == 0 && rest.empty() ? "conv_in" : "";
    const int block = (a - 1) / per_down, j = (a - 1) % per_down;
    const std::string at = "down_blocks_" + std::to_string(block) + "_";
    if (j < cfg.layers_per_block) {
      if (b == 0) return (out = resnet(rest)).empty() ? "" : at + "resnets_" + std::to_string(j) + "_" + out;
      if (b == 1) return at + "attentions_" + std::to_string(j) + "_" + rest;
    } else if (b == 0 && rest == "op") {
      return at + "downsamplers_0_conv";
    }
    return "";
  }
  if (s.starts_with("middle_block_")) {
    a = std::atoi(s.c_str() + 13);
    const size_t u = s.find('_', 13);
    rest = u == std::string::npos ? "" : s.substr(u + 1);
    if (a == 1) return "mid_block_attentions_0_" + rest;
    if (a == 0 || a == 2) return (out = resnet(rest)).empty() ? "" : "mid_block_resnets_" + std::to_string(a / 2) + "_" + out;
    return "";
  }
  if (s.starts_with("output_blocks_") && two_ints(s.substr(14), a, b, rest)) {
    const int block = a / per_up, j = a % per_up;
    if (block >= int(cfg.up_block_types.size())) return "";
    const bool attention = cfg.up_block_types[size_t(block)].find("CrossAttn") != std::string::npos;
    const std::string at = "up_blocks_" + std::to_string(block) + "_";
    if (b == 0) return (out = resnet(rest)).empty() ? "" : at + "resnets_" + std::to_string(j) + "_" + out;
    if (b == 1 && attention) return at + "attentions_" + std::to_string(j) + "_" + rest;
    if ((b == 2 || (b == 1 && !attention)) && rest == "conv") return at + "upsamplers_0_conv";
    return "";
  }
  static const std::pair<const char*, const char*> kFixed[] = {
      {"time_embed_0", "time_embedding_linear_1"}, {"time_embed_2", "time_embedding_linear_2"},
      {"label_emb_0_0", "add_embedding_linear_1"}, {"label_emb_0_2", "add_embedding_linear_2"}, {"out_2", "conv_out"}};
  for (const auto& [from, to] : kFixed)
    if (s == from) return to;
  return "";
}

std::vector<float> f32_of(const TensorView& t) {
  if (t.dtype != DType::kF32 && t.dtype != DType::kF16 && t.dtype != DType::kBF16)
    throw Error(ErrorCode::kCorruptFile, "LoRA tensor '" + t.name + "' has dtype " + dtype_name(t.dtype) +
                                             "; LoRA weights must be F32, F16 or BF16");
  return t.to_f32();
}

// Above this size as f32 a merged weight keeps the base's storage type.
constexpr size_t kExactMergeBytes = 4u << 20;

}  // namespace

std::shared_ptr<const LoraFile> LoraFile::open(const std::string& path) {
  for (const char* ext : {".ckpt", ".pt", ".pth", ".bin"})
    if (path.ends_with(ext))
      throw Error(ErrorCode::kUnsupported, path + ": pickled LoRA files are not read (they can run code); use the " +
                                               "LoRA's .safetensors version");
  SafetensorsFile f = SafetensorsFile::open(path);
  auto lora = std::make_shared<LoraFile>();
  lora->path_ = path;
  std::map<std::string, LoraModule> by_key;
  std::map<std::string, float> alphas;
  std::vector<std::string> unknown;
  for (const auto& [name, t] : f.tensors()) {
    std::string stem;
    static const char* kUnsupported[] = {".hada_w1_a", ".hada_w1_b", ".lokr_w1", ".lokr_w1_a", ".lora_mid.weight",
                                         ".dora_scale", ".lora_magnitude_vector", ".diff", ".diff_b"};
    for (const char* s : kUnsupported)
      if (name.ends_with(s))
        throw Error(ErrorCode::kUnsupported,
                    path + ": '" + name + "' is a LyCORIS/DoRA layer (LoHa, LoKr, Tucker, DoRA or full-difference " +
                        "weights); websd reads plain LoRA (lora_down/lora_up, lora_A/lora_B) only");
    if (ends_with(name, ".alpha", &stem)) {
      alphas[stem] = f32_of(t).at(0);
      continue;
    }
    bool down = false;
    bool matched = false;
    for (const char* s : {".lora_down.weight", ".lora_A.weight", ".lora_A.default.weight", ".lora.down.weight",
                          ".lora_linear_layer.down.weight", ".down.weight"})
      if (ends_with(name, s, &stem)) { down = matched = true; break; }
    if (!matched)
      for (const char* s : {".lora_up.weight", ".lora_B.weight", ".lora_B.default.weight", ".lora.up.weight",
                            ".lora_linear_layer.up.weight", ".up.weight"})
        if (ends_with(name, s, &stem)) { matched = true; break; }
    if (!matched) {
      unknown.push_back(name);
      continue;
    }
    LoraModule& m = by_key[stem];
    if (m.key.empty() && !split_component(stem, m)) {
      unknown.push_back(name);
      by_key.erase(stem);
      continue;
    }
    m.key = stem;
    (down ? m.down : m.up) = t;
  }
  if (!unknown.empty())
    throw Error(ErrorCode::kUnsupported,
                path + ": " + std::to_string(unknown.size()) + " tensor(s) are not LoRA layers of a known naming " +
                    "(kohya lora_unet_/lora_te_…, diffusers unet./text_encoder.…), e.g. '" + unknown.front() + "'");
  for (auto& [key, m] : by_key) {
    if (m.down.name.empty() || m.up.name.empty())
      throw Error(ErrorCode::kCorruptFile, path + ": LoRA layer '" + key + "' has only its " +
                                               (m.down.name.empty() ? "up" : "down") + " matrix");
    const int64_t rank = m.down.shape.rank() ? m.down.shape[0] : 0;
    if (rank <= 0 || m.up.shape.rank() < 2 || m.up.shape[1] != rank ||
        m.up.shape.numel() != m.up.shape[0] * rank)
      throw Error(ErrorCode::kCorruptFile, path + ": LoRA layer '" + key + "' has down " + m.down.shape.str() +
                                               " and up " + m.up.shape.str() + ", which do not share a rank");
    const auto a = alphas.find(key);
    m.alpha = a == alphas.end() ? 1.0f : a->second / float(rank);  // no alpha: alpha = rank
    lora->modules_.push_back(std::move(m));
  }
  if (lora->modules_.empty()) throw Error(ErrorCode::kCorruptFile, path + ": holds no LoRA layers");
  return lora;
}

LoraWeights::LoraWeights(std::shared_ptr<WeightSource> base, std::map<std::string, std::vector<Term>> terms,
                         std::vector<std::shared_ptr<const LoraFile>> files, LoraMode mode)
    : base_(std::move(base)), terms_(std::move(terms)), files_(std::move(files)), mode_(mode) {}

std::shared_ptr<const LowRankSum> LoraWeights::factors(const std::string& name, const Shape& shape) const {
  if (const auto done = factors_.find(name); done != factors_.end()) return done->second;
  // The LoRAs of this weight stacked into one pair of factors: [s1·up1 | s2·up2 | …] · [down1; down2; …].
  const std::vector<Term>& terms = terms_.at(name);
  auto sum = std::make_shared<LowRankSum>();
  sum->base = base_->get(name, shape);
  const size_t out = size_t(shape[0]), in = size_t(shape.numel()) / out;
  for (const Term& term : terms) sum->rank += term.module->down.shape[0];
  const size_t rank = size_t(sum->rank);
  sum->up.resize(out * rank);
  sum->down.reserve(rank * in);
  size_t at = 0;
  for (const Term& term : terms) {
    const std::vector<float> up = term.module->up.to_f32(), down = term.module->down.to_f32();
    const size_t r = size_t(term.module->down.shape[0]);
    for (size_t o = 0; o < out; ++o)
      for (size_t j = 0; j < r; ++j) sum->up[o * rank + at + j] = term.scale * up[o * r + j];
    sum->down.insert(sum->down.end(), down.begin(), down.end());
    at += r;
  }
  return factors_[name] = sum;
}

WeightData LoraWeights::get(const std::string& name, const Shape& shape) const {
  const auto t = terms_.find(name);
  if (t == terms_.end() || mode_ == LoraMode::kRunTime) return base_->get(name, shape);
  if (const auto done = merged_.find(name); done != merged_.end()) return done->second;
  std::shared_ptr<const LowRankSum> sum = factors(name, shape);
  const DType stored = sum->base.dtype;
  const bool exact = size_t(shape.numel()) * 4 <= kExactMergeBytes || (stored != DType::kF16 && stored != DType::kI8);
  return merged_[name] = low_rank_sum(name, std::move(sum), exact ? DType::kF32 : stored);
}

std::shared_ptr<const LowRankSum> LoraWeights::run_time_low_rank(const std::string& name, const Shape& shape) const {
  if (mode_ != LoraMode::kRunTime || !terms_.count(name)) return base_->run_time_low_rank(name, shape);
  return factors(name, shape);
}

std::map<std::string, std::shared_ptr<WeightSource>> apply_loras(
    const std::map<std::string, std::shared_ptr<WeightSource>>& components, const UNetConfig& unet,
    const std::vector<LoraUse>& loras, LoraMode mode) {
  std::map<std::string, std::map<std::string, std::vector<LoraWeights::Term>>> terms;  // component -> weight ->
  std::map<std::string, std::map<std::string, TensorInfo>> stored;                       // component -> weight ->
  std::map<std::string, std::map<std::string, std::string>> by_underscored;              // component -> _ form ->
  for (const auto& [component, weights] : components)
    for (TensorInfo& t : weights->list()) {
      std::string stem;
      if (!ends_with(t.name, ".weight", &stem)) continue;
      by_underscored[component][underscored(stem)] = stem;
      stored[component][t.name] = t;
    }
  std::vector<std::shared_ptr<const LoraFile>> files;
  for (const LoraUse& use : loras) {
    files.push_back(use.file);
    std::vector<std::string> unmatched;
    for (const LoraModule& m : use.file->modules()) {
      const auto component = components.find(m.component);
      std::string layer;
      if (component != components.end()) {
        const auto& index = by_underscored[m.component];
        if (!m.underscored) {
          layer = stored[m.component].count(m.module + ".weight") ? m.module : "";
        } else if (const auto it = index.find(m.module); it != index.end()) {
          layer = it->second;
        } else if (m.component == "unet") {
          const std::string mapped = sgm_to_diffusers(m.module, unet);
          const auto again = mapped.empty() ? index.end() : index.find(mapped);
          if (again != index.end()) layer = again->second;
        }
      }
      if (layer.empty()) {
        unmatched.push_back(m.key);
        continue;
      }
      const TensorInfo& w = stored[m.component][layer + ".weight"];
      const int64_t out = m.up.shape[0], in = m.down.shape.numel() / m.down.shape[0];
      if (w.shape.rank() < 2 || w.shape[0] != out || w.shape.numel() != out * in)
        throw Error(ErrorCode::kInvalidArgument,
                    use.file->path() + ": LoRA layer '" + m.key + "' changes a " + std::to_string(out) + "x" +
                        std::to_string(in) + " matrix, but the model's " + layer + " is " + w.shape.str() +
                        ": this LoRA was made for another model architecture");
      const float scale = (m.component == "unet" ? use.unet_scale : use.text_scale) * m.alpha;
      if (scale != 0.0f) terms[m.component][w.name].push_back({&m, scale});
    }
    if (!unmatched.empty()) {
      std::string list;
      for (size_t i = 0; i < unmatched.size() && i < 3; ++i) list += (i ? "', '" : "'") + unmatched[i];
      throw Error(ErrorCode::kInvalidArgument,
                  use.file->path() + ": " + std::to_string(unmatched.size()) + " of its " +
                      std::to_string(use.file->modules().size()) + " LoRA layers match no layer of this model (" +
                      list + "'" + (unmatched.size() > 3 ? ", …" : "") +
                      "): it was made for another model architecture");
    }
  }
  std::map<std::string, std::shared_ptr<WeightSource>> out = components;
  for (auto& [component, t] : terms)
    out[component] = std::make_shared<LoraWeights>(components.at(component), std::move(t), files, mode);
  return out;
}

LoraMode parse_lora_mode(const std::string& name) {
  if (name == "merged") return LoraMode::kMerged;
  if (name == "runtime") return LoraMode::kRunTime;
  throw Error(ErrorCode::kInvalidArgument, "LoRA mode '" + name + "': expected merged or runtime");
}

const char* lora_mode_name(LoraMode mode) { return mode == LoraMode::kRunTime ? "runtime" : "merged"; }

std::vector<LoraRequest> take_lora_tags(std::string& prompt) {
  std::vector<LoraRequest> tags;
  std::string rest;
  size_t at = 0;
  for (size_t open; (open = prompt.find("<lora:", at)) != std::string::npos;) {
    const size_t close = prompt.find('>', open);
    if (close == std::string::npos) break;  // no closing '>': plain text, as the web UI reads it
    const std::string tag = prompt.substr(open, close + 1 - open);
    std::vector<std::string> fields;
    for (size_t b = 6, c; b <= tag.size() - 1; b = c + 1) {
      c = tag.find(':', b);
      if (c == std::string::npos) c = tag.size() - 1;
      fields.push_back(tag.substr(b, c - b));
    }
    const auto number = [&](std::string v) {
      if (const size_t eq = v.find('='); eq != std::string::npos) v = v.substr(eq + 1);
      char* end = nullptr;
      const float f = std::strtof(v.c_str(), &end);
      if (v.empty() || *end != '\0' || !std::isfinite(f))
        throw Error(ErrorCode::kInvalidArgument, "the prompt's " + tag + ": '" + v + "' is not a number");
      return f;
    };
    LoraRequest r{fields.empty() ? "" : fields[0]};
    if (r.path.empty()) throw Error(ErrorCode::kInvalidArgument, "the prompt's " + tag + " names no LoRA");
    bool positional_unet = false;
    for (size_t i = 1; i < fields.size(); ++i) {
      const std::string& f = fields[i];
      if (f.starts_with("unet=")) {
        r.unet_scale = number(f);
      } else if (f.starts_with("te=")) {
        r.text_scale = number(f);
      } else if (f.find('=') != std::string::npos) {
        continue;  // the web UI's other options (dyn=…) do not apply
      } else if (i == 1) {
        r.text_scale = r.unet_scale = number(f);
      } else if (i == 2 && !positional_unet) {
        r.unet_scale = number(f);
        positional_unet = true;
      }
    }
    tags.push_back(std::move(r));
    rest += prompt.substr(at, open - at);
    at = close + 1;
  }
  prompt = rest + prompt.substr(at);
  return tags;
}

LoraRequest parse_lora_argument(const std::string& arg) {
  const size_t colon = arg.rfind(':');
  if (colon == std::string::npos || colon == 0) return {arg};
  const std::string scale = arg.substr(colon + 1);
  char* end = nullptr;
  const float s = std::strtof(scale.c_str(), &end);
  if (scale.empty() || *end != '\0' || !std::isfinite(s))
    throw Error(ErrorCode::kInvalidArgument, "--lora " + arg + ": expected FILE or FILE:SCALE, and '" + scale +
                                                 "' is not a number");
  return {arg.substr(0, colon), s, s};
}

std::string find_lora(const std::string& dir, const std::string& name) {
  namespace fs = std::filesystem;
  if (name.find('/') != std::string::npos || name.find('\\') != std::string::npos || name == ".." || name == ".")
    throw Error(ErrorCode::kInvalidArgument, "<lora:" + name + ">: a LoRA name is a file name in the LoRA folder, " +
                                                 "not a path");
  if (dir.empty())
    throw Error(ErrorCode::kInvalidArgument, "the prompt asks for <lora:" + name + "> but no LoRA folder is set " +
                                                 "(--lora-dir)");
  std::error_code ec;
  for (const std::string& file : {name + ".safetensors", name})
    if (fs::is_regular_file(fs::path(dir) / file, ec)) return (fs::path(dir) / file).string();
  throw Error(ErrorCode::kNotFound, "<lora:" + name + ">: there is no " + name + ".safetensors in the LoRA folder " + dir);
}

}  // namespace websd
