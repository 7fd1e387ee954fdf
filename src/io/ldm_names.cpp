#include "io/ldm_names.h"

#include <climits>
#include <functional>
#include <optional>
#include <regex>
#include <set>

#include "core/error.h"

namespace websd {
namespace {

// How one stored tensor becomes one diffusers tensor.
struct Piece {
  std::string name;
  int parts = 1, part = 0;  // take rows [part·n/parts, (part+1)·n/parts): a contiguous run in row-major order
  bool squeeze = false;     // [C, C, 1, 1] → [C, C] (same bytes)
};
struct Mapping {
  bool ignore = false;  // stored, but not part of the network (buffers, the dropped resblock, ...)
  std::vector<Piece> pieces;
};
Mapping to(std::string name) {
  return {false, {Piece{std::move(name)}}};
}
const Mapping kIgnore{true, {}};
const Mapping kUnknown{};

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> parts;
  size_t begin = 0;
  for (size_t dot; (dot = s.find('.', begin)) != std::string::npos; begin = dot + 1)
    parts.push_back(s.substr(begin, dot - begin));
  parts.push_back(s.substr(begin));
  return parts;
}

std::string join(const std::vector<std::string>& parts, size_t from) {
  std::string s;
  for (size_t i = from; i < parts.size(); ++i) s += (i > from ? "." : "") + parts[i];
  return s;
}

std::optional<int> index(const std::string& s) {
  if (s.empty() || s.size() > 6 || s.find_first_not_of("0123456789") != std::string::npos)
    return std::nullopt;
  return std::stoi(s);
}

bool is_leaf(const std::string& s) {
  return s == "weight" || s == "bias";
}

std::string str(int i) {
  return std::to_string(i);
}

[[noreturn]] void unsupported(const SafetensorsFile& f, const std::string& what) {
  throw Error(
      ErrorCode::kUnsupported,
      f.path() + ": " + what + "; websd supports single-file Stable Diffusion 1.x and 2.x checkpoints");
}

// Runs `namer` over every tensor under `prefix` (the name without the prefix goes in).
TensorMap map_component(const SafetensorsFile& f, const std::string& prefix, const std::string& what,
                        const std::function<Mapping(const std::string&)>& namer) {
  TensorMap out;
  for (const auto& [name, t] : f.tensors()) {
    if (!name.starts_with(prefix)) continue;
    const Mapping m = namer(name.substr(prefix.size()));
    if (m.ignore) continue;
    if (m.pieces.empty())
      unsupported(f, "tensor '" + name + "' does not belong to the " + what + " of SD 1.x/2.x");
    for (const Piece& p : m.pieces) {
      MappedTensor mt{name, t.dtype, t.shape, t.owner, t.offset};
      if (p.squeeze) {
        if (t.shape.rank() == 4 && t.shape[2] == 1 && t.shape[3] == 1)
          mt.shape = Shape{t.shape[0], t.shape[1]};
        else if (t.shape.rank() != 2)
          unsupported(
              f, "tensor '" + name + "' has shape " + t.shape.str() + ", expected [C, C, 1, 1] or [C, C]");
      }
      if (p.parts > 1) {
        if (t.shape.rank() < 1 || t.shape[0] % p.parts != 0)
          unsupported(f, "tensor '" + name + "' has shape " + t.shape.str() + ", which does not split into " +
                             str(p.parts) + " equal parts along its first dimension");
        const int64_t rows = t.shape[0] / p.parts;
        mt.shape.dims[0] = rows;
        const size_t row_bytes = size_t(t.shape.numel() / t.shape[0]) * dtype_size(t.dtype);
        mt.offset = t.offset + size_t(p.part * rows) * row_bytes;
        mt.source +=
            "[rows " + std::to_string(p.part * rows) + ":" + std::to_string((p.part + 1) * rows) + "]";
      }
      if (!out.emplace(p.name, std::move(mt)).second)
        unsupported(
            f, "tensors '" + out.at(p.name).source + "' and '" + name + "' both map to '" + p.name + "'");
    }
  }
  if (out.empty()) unsupported(f, "it has no " + what + " tensors (" + prefix + "*)");
  return out;
}

// ---- UNet ----

// A ResBlock's layers: in_layers = [GroupNorm, SiLU, Conv], emb_layers = [SiLU, Linear],
// out_layers = [GroupNorm, SiLU, Dropout, Conv].
Mapping unet_resnet(const std::string& p, const std::vector<std::string>& s, size_t at) {
  if (s.size() == at + 2 && s[at] == "skip_connection" && is_leaf(s[at + 1]))
    return to(p + ".conv_shortcut." + s[at + 1]);
  if (s.size() != at + 3 || !is_leaf(s[at + 2])) return kUnknown;
  static const std::map<std::string, std::string> layers{{"in_layers.0", "norm1"},
                                                         {"in_layers.2", "conv1"},
                                                         {"emb_layers.1", "time_emb_proj"},
                                                         {"out_layers.0", "norm2"},
                                                         {"out_layers.3", "conv2"}};
  auto it = layers.find(s[at] + "." + s[at + 1]);
  return it == layers.end() ? kUnknown : to(p + "." + it->second + "." + s[at + 2]);
}

// Transformer2DModel: LDM and diffusers share the inner names.
Mapping unet_attention(const std::string& p, const std::vector<std::string>& s, size_t at) {
  // The transformer's own layers, then those of each of its blocks.
  static const std::regex inner(
      R"((norm|proj_in|proj_out)\.(weight|bias))"
      R"(|transformer_blocks\.\d+\.()"
      R"(norm[123]\.(weight|bias)|attn[12]\.to_[qkv]\.weight|attn[12]\.to_out\.0\.(weight|bias))"
      R"(|ff\.net\.0\.proj\.(weight|bias)|ff\.net\.2\.(weight|bias)))");
  const std::string rest = join(s, at);
  return std::regex_match(rest, inner) ? to(p + "." + rest) : kUnknown;
}

Mapping unet_name(const std::string& n, const LdmUNetLayout& l) {
  const auto s = split(n);
  const int L = l.layers_per_block;
  auto leaf_at = [&](size_t i) { return s.size() == i + 1 && is_leaf(s[i]); };
  if (s[0] == "time_embed" && s.size() == 3 && leaf_at(2)) {
    if (s[1] == "0") return to("time_embedding.linear_1." + s[2]);
    if (s[1] == "2") return to("time_embedding.linear_2." + s[2]);
  }
  if (s[0] == "out" && s.size() == 3 && leaf_at(2)) {
    if (s[1] == "0") return to("conv_norm_out." + s[2]);
    if (s[1] == "2") return to("conv_out." + s[2]);
  }
  if (s.size() < 4) return kUnknown;
  if (s[0] == "middle_block") {  // [ResBlock, SpatialTransformer, ResBlock]
    const auto m = index(s[1]);
    if (m == 0) return unet_resnet("mid_block.resnets.0", s, 2);
    if (m == 1 && l.mid_attention) return unet_attention("mid_block.attentions.0", s, 2);
    if (m == (l.mid_attention ? 2 : 1)) return unet_resnet("mid_block.resnets.1", s, 2);
    return kUnknown;
  }
  const auto k = index(s[1]), sub = index(s[2]);
  if (!k || !sub) return kUnknown;
  if (s[0] == "input_blocks") {
    if (*k == 0) return *sub == 0 && leaf_at(3) ? to("conv_in." + s[3]) : kUnknown;
    const int i = (*k - 1) / (L + 1), j = (*k - 1) % (L + 1);
    const std::string p = "down_blocks." + str(i);
    if (i >= l.blocks) return kUnknown;
    if (j == L)  // the Downsample after the block's layers
      return *sub == 0 && s[3] == "op" && leaf_at(4) ? to(p + ".downsamplers.0.conv." + s[4]) : kUnknown;
    if (*sub == 0) return unet_resnet(p + ".resnets." + str(j), s, 3);
    if (*sub == 1 && l.down_attention[size_t(i)]) return unet_attention(p + ".attentions." + str(j), s, 3);
  }
  if (s[0] == "output_blocks") {
    const int i = *k / (L + 1), j = *k % (L + 1);
    if (i >= l.blocks) return kUnknown;
    const std::string p = "up_blocks." + str(i);
    const bool attn = l.up_attention[size_t(i)];
    if (*sub == 0) return unet_resnet(p + ".resnets." + str(j), s, 3);
    if (*sub == 1 && attn) return unet_attention(p + ".attentions." + str(j), s, 3);
    // The Upsample follows the last layer of every block but the last; its index depends on the attention.
    if (*sub == (attn ? 2 : 1) && j == L && i + 1 < l.blocks && s[3] == "conv" && leaf_at(4))
      return to(p + ".upsamplers.0.conv." + s[4]);
  }
  return kUnknown;
}

// ---- VAE ----

Mapping vae_resnet(const std::string& p, const std::vector<std::string>& s, size_t at) {
  if (s.size() != at + 2 || !is_leaf(s[at + 1])) return kUnknown;
  if (s[at] == "nin_shortcut") return to(p + ".conv_shortcut." + s[at + 1]);
  if (s[at] == "norm1" || s[at] == "norm2" || s[at] == "conv1" || s[at] == "conv2")
    return to(p + "." + s[at] + "." + s[at + 1]);
  return kUnknown;
}

Mapping vae_name(const std::string& n, int levels) {
  const auto s = split(n);
  if (s[0] == "loss") return kIgnore;  // training-time discriminator/LPIPS weights in some checkpoints
  if ((s[0] == "quant_conv" || s[0] == "post_quant_conv") && s.size() == 2 && is_leaf(s[1])) return to(n);
  if ((s[0] != "encoder" && s[0] != "decoder") || s.size() < 3) return kUnknown;
  const std::string& part = s[0];
  if ((s[1] == "conv_in" || s[1] == "conv_out") && s.size() == 3 && is_leaf(s[2])) return to(n);
  if (s[1] == "norm_out" && s.size() == 3 && is_leaf(s[2])) return to(part + ".conv_norm_out." + s[2]);
  if (s[1] == "mid" && s.size() >= 4) {
    if (s[2] == "block_1") return vae_resnet(part + ".mid_block.resnets.0", s, 3);
    if (s[2] == "block_2") return vae_resnet(part + ".mid_block.resnets.1", s, 3);
    if (s[2] == "attn_1" && s.size() == 5 && is_leaf(s[4])) {
      static const std::map<std::string, std::string> names{
          {"norm", "group_norm"}, {"q", "to_q"}, {"k", "to_k"}, {"v", "to_v"}, {"proj_out", "to_out.0"}};
      auto it = names.find(s[3]);
      if (it == names.end()) return kUnknown;
      Mapping m = to(part + ".mid_block.attentions.0." + it->second + "." + s[4]);
      m.pieces[0].squeeze = s[3] != "norm" && s[4] == "weight";  // stored as 1×1 convs, read as linear layers
      return m;
    }
    return kUnknown;
  }
  const auto i = index(s[2]);
  if (!i || *i >= levels || s.size() < 5) return kUnknown;
  if (part == "encoder" && s[1] == "down") {
    const std::string p = "encoder.down_blocks." + s[2];
    if (s[3] == "downsample" && s[4] == "conv" && s.size() == 6 && is_leaf(s[5]))
      return to(p + ".downsamplers.0.conv." + s[5]);
    if (s[3] == "block" && index(s[4])) return vae_resnet(p + ".resnets." + s[4], s, 5);
  }
  if (part == "decoder" && s[1] == "up") {  // LDM numbers the decoder levels from the full resolution up
    const std::string p = "decoder.up_blocks." + str(levels - 1 - *i);
    if (s[3] == "upsample" && s[4] == "conv" && s.size() == 6 && is_leaf(s[5]))
      return to(p + ".upsamplers.0.conv." + s[5]);
    if (s[3] == "block" && index(s[4])) return vae_resnet(p + ".resnets." + s[4], s, 5);
  }
  return kUnknown;
}

// ---- text encoders ----

Mapping hf_clip_name(const std::string& n) {
  static const std::regex names(
      R"(embeddings\.(token|position)_embedding\.weight|final_layer_norm\.(weight|bias))"
      R"(|encoder\.layers\.\d+\.(layer_norm[12]|self_attn\.(q|k|v|out)_proj|mlp\.fc[12])\.(weight|bias))");
  if (!n.starts_with("transformer.")) return kUnknown;
  std::string rest = n.substr(std::string("transformer.").size());
  if (rest.starts_with("text_model.")) rest = rest.substr(std::string("text_model.").size());
  if (rest == "embeddings.position_ids") return kIgnore;  // an index buffer, not a weight
  return std::regex_match(rest, names) ? to(rest) : kUnknown;
}

Mapping open_clip_name(const std::string& n, int resblocks) {
  if (!n.starts_with("model.")) return kUnknown;
  const auto s = split(n.substr(std::string("model.").size()));
  const std::string rest = join(s, 0);
  if (rest == "token_embedding.weight") return to("embeddings.token_embedding.weight");
  if (rest == "positional_embedding") return to("embeddings.position_embedding.weight");
  if (s[0] == "ln_final" && s.size() == 2 && is_leaf(s[1])) return to("final_layer_norm." + s[1]);
  // The projection into the joint image-text space and the contrastive temperature: unused by SD.
  if (rest == "text_projection" || rest == "logit_scale" || rest == "attn_mask") return kIgnore;
  if (s.size() < 5 || s[0] != "transformer" || s[1] != "resblocks") return kUnknown;
  const auto i = index(s[2]);
  if (!i || *i >= resblocks) return kUnknown;
  if (*i == resblocks - 1) return kIgnore;  // SD 2 conditions on the penultimate layer
  const std::string p = "encoder.layers." + s[2] + ".";
  const std::string layer = join(s, 3);
  if (layer == "attn.in_proj_weight" || layer == "attn.in_proj_bias") {
    const std::string leaf = layer.ends_with("weight") ? "weight" : "bias";
    Mapping m;
    for (int part = 0; part < 3; ++part)
      m.pieces.push_back(Piece{p + "self_attn." + "qkv"[part] + "_proj." + leaf, 3, part, false});
    return m;
  }
  if (!is_leaf(s.back())) return kUnknown;
  static const std::map<std::string, std::string> layers{{"ln_1", "layer_norm1"},
                                                         {"ln_2", "layer_norm2"},
                                                         {"attn.out_proj", "self_attn.out_proj"},
                                                         {"mlp.c_fc", "mlp.fc1"},
                                                         {"mlp.c_proj", "mlp.fc2"}};
  auto it = layers.find(layer.substr(0, layer.size() - s.back().size() - 1));
  return it == layers.end() ? kUnknown : to(p + it->second + "." + s.back());
}

// The distinct numbers that follow `prefix` in tensor names ("prefix3.…" → 3).
std::set<int> indices_after(const SafetensorsFile& f, const std::string& prefix) {
  std::set<int> out;
  for (const auto& [name, t] : f.tensors()) {
    if (!name.starts_with(prefix)) continue;
    const std::string rest = name.substr(prefix.size());
    if (auto i = index(rest.substr(0, rest.find('.')))) out.insert(*i);
  }
  return out;
}

}  // namespace

LdmUNetLayout infer_ldm_controlnet_layout(const SafetensorsFile& f) {
  const std::string P = std::string(kLdmControlPrefix) + "input_blocks.";
  const std::set<int> in = indices_after(f, P);
  if (in.empty()) unsupported(f, "its ControlNet has no input_blocks");
  int first_down = INT_MAX;
  for (int k : in)
    if (f.contains(P + str(k) + ".0.op.weight")) first_down = std::min(first_down, k);
  LdmUNetLayout l;
  l.layers_per_block = first_down != INT_MAX ? first_down - 1 : *in.rbegin();
  const int per_block = l.layers_per_block + 1;
  l.blocks = int(in.size()) / per_block;
  if (l.layers_per_block < 1 || int(in.size()) != l.blocks * per_block || *in.rbegin() + 1 != int(in.size()))
    unsupported(f, "its ControlNet has " + str(int(in.size())) + " input blocks, which is not the SD 1.x/2.x layout");
  for (int i = 0; i < l.blocks; ++i)
    l.down_attention.push_back(f.contains(P + str(1 + i * per_block) + ".1.proj_in.weight"));
  l.up_attention.assign(l.down_attention.rbegin(), l.down_attention.rend());
  l.mid_attention = f.contains(std::string(kLdmControlPrefix) + "middle_block.1.proj_in.weight");
  return l;
}

TensorMap map_ldm_controlnet(const SafetensorsFile& f, const LdmUNetLayout& layout) {
  const std::set<int> hint = indices_after(f, std::string(kLdmControlPrefix) + "input_hint_block.");
  const int first = hint.empty() ? 0 : *hint.begin(), last = hint.empty() ? 0 : *hint.rbegin();
  return map_component(f, kLdmControlPrefix, "ControlNet", [&](const std::string& n) -> Mapping {
    const auto s = split(n);
    const bool leaf = s.size() == 3 && is_leaf(s[2]);
    if (s[0] == "input_hint_block" && leaf) {
      const auto k = index(s[1]);
      if (!k || *k % 2) return kUnknown;
      const std::string e = "controlnet_cond_embedding.";
      if (*k == first) return to(e + "conv_in." + s[2]);
      if (*k == last) return to(e + "conv_out." + s[2]);
      return to(e + "blocks." + str(*k / 2 - 1) + "." + s[2]);
    }
    if (s[0] == "zero_convs" && s.size() == 4 && s[2] == "0" && is_leaf(s[3]) && index(s[1]))
      return to("controlnet_down_blocks." + s[1] + "." + s[3]);
    if (s[0] == "middle_block_out" && leaf && s[1] == "0") return to("controlnet_mid_block." + s[2]);
    if (s[0] == "output_blocks" || s[0] == "out") return kUnknown;
    return unet_name(n, layout);
  });
}

LdmUNetLayout infer_ldm_unet_layout(const SafetensorsFile& f) {
  const std::string P = kLdmUNetPrefix;
  const std::set<int> in = indices_after(f, P + "input_blocks."),
                      out = indices_after(f, P + "output_blocks.");
  if (in.empty() || out.empty()) unsupported(f, "its UNet has no input_blocks or output_blocks");
  int first_down = INT_MAX;
  for (int k : in)
    if (f.contains(P + "input_blocks." + str(k) + ".0.op.weight")) first_down = std::min(first_down, k);
  LdmUNetLayout l;
  // input_blocks: conv_in, then per block L layers and (but for the last block) a downsampler.
  l.layers_per_block = first_down != INT_MAX ? first_down - 1 : *in.rbegin();
  const int per_block = l.layers_per_block + 1;
  l.blocks = int(out.size()) / per_block;
  if (l.layers_per_block < 1 || int(in.size()) != l.blocks * per_block ||
      int(out.size()) != l.blocks * per_block || *in.rbegin() + 1 != int(in.size()) ||
      *out.rbegin() + 1 != int(out.size()))
    unsupported(f, "its UNet has " + str(int(in.size())) + " input and " + str(int(out.size())) +
                       " output blocks, which is not the SD 1.x/2.x layout");
  for (int i = 0; i < l.blocks; ++i) {
    l.down_attention.push_back(
        f.contains(P + "input_blocks." + str(1 + i * per_block) + ".1.proj_in.weight"));
    l.up_attention.push_back(f.contains(P + "output_blocks." + str(i * per_block) + ".1.proj_in.weight"));
  }
  l.mid_attention = f.contains(P + "middle_block.1.proj_in.weight");
  return l;
}

TensorMap map_ldm_unet(const SafetensorsFile& f, const LdmUNetLayout& layout) {
  return map_component(f, kLdmUNetPrefix, "UNet", [&](const std::string& n) { return unet_name(n, layout); });
}

TensorMap map_ldm_vae(const SafetensorsFile& f) {
  const int levels = int(indices_after(f, std::string(kLdmVaePrefix) + "decoder.up.").size());
  return map_component(f, kLdmVaePrefix, "VAE", [&](const std::string& n) { return vae_name(n, levels); });
}

TensorMap map_hf_clip_text(const SafetensorsFile& f) {
  return map_component(f, kLdmTextPrefix, "CLIP text encoder", hf_clip_name);
}

TensorMap map_open_clip_text(const SafetensorsFile& f) {
  const int resblocks =
      int(indices_after(f, std::string(kLdmTextPrefix) + "model.transformer.resblocks.").size());
  if (resblocks < 2)
    unsupported(
        f, "its OpenCLIP text encoder has " + str(resblocks) + " layers; SD 2.x uses the penultimate one");
  return map_component(f, kLdmTextPrefix, "OpenCLIP text encoder",
                       [&](const std::string& n) { return open_clip_name(n, resblocks); });
}

WeightData MappedWeights::get(const std::string& name, const Shape& shape) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end())
    throw Error(ErrorCode::kNotFound, path_ + ": has no tensor that maps to '" + name +
                                          "' (not an SD 1.x/2.x checkpoint, or an incomplete file?)");
  const MappedTensor& t = it->second;
  if (t.dtype != DType::kF32 && t.dtype != DType::kF16 && t.dtype != DType::kBF16)
    throw Error(ErrorCode::kShapeMismatch, path_ + ": tensor '" + t.source + "' has dtype " +
                                               dtype_name(t.dtype) + "; weights must be F32, F16 or BF16");
  if (t.shape != shape)
    throw Error(ErrorCode::kShapeMismatch, path_ + ": tensor '" + t.source + "' (read as '" + name +
                                               "') has shape " + t.shape.str() + " but the network needs " +
                                               shape.str());
  return file_weight(t.source, t.dtype, t.shape, t.owner, t.offset);
}

std::vector<TensorInfo> MappedWeights::list() const {
  std::vector<TensorInfo> out;
  for (const auto& [name, t] : tensors_) out.push_back({name, t.dtype, t.shape});
  return out;
}

}  // namespace websd
