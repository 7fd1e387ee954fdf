#include "models/clip_text_encoder.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

#include "models/module_builder.h"

namespace websd {

ClipTextConfig ClipTextConfig::from(const Config& c) {
  ClipTextConfig t;
  t.vocab_size = c.get_int("vocab_size");
  t.hidden_size = c.get_int("hidden_size");
  t.intermediate_size = c.get_int("intermediate_size");
  t.num_heads = c.get_int("num_attention_heads");
  t.num_layers = c.get_int("num_hidden_layers");
  t.max_positions = c.get_int("max_position_embeddings", 77);
  t.act = c.get_string("hidden_act", "quick_gelu");
  t.eps = float(c.get_number("layer_norm_eps", 1e-5));
  t.eos_token_id = c.get_int("eos_token_id", 49407);
  c.require_one_of("hidden_act", {"quick_gelu", "gelu"});
  const std::pair<const char*, int> sizes[] = {{"vocab_size", t.vocab_size},
                                               {"hidden_size", t.hidden_size},
                                               {"intermediate_size", t.intermediate_size},
                                               {"num_attention_heads", t.num_heads},
                                               {"num_hidden_layers", t.num_layers},
                                               {"max_position_embeddings", t.max_positions}};
  for (const auto& [key, v] : sizes)  // found by the fuzz smoke: 0 heads divided by zero
    if (v < 1) c.invalid(key, "must be at least 1, found " + std::to_string(v));
  if (t.hidden_size % t.num_heads != 0) c.invalid("num_attention_heads", "does not divide hidden_size");
  const std::vector<std::string> archs = c.has("architectures") ? c.get_strings("architectures")
                                                                : std::vector<std::string>{"CLIPTextModel"};
  if (archs.empty()) c.invalid("architectures", "is an empty list");
  const std::string arch = archs[0];
  if (arch == "CLIPTextModelWithProjection")
    t.projection_dim = c.get_int("projection_dim");
  else if (arch != "CLIPTextModel")
    c.unsupported("architectures", "is " + arch + "; websd supports CLIPTextModel and CLIPTextModelWithProjection");
  return t;
}

ClipTextConfig ClipTextConfig::sd15() { return ClipTextConfig{}; }

ClipTextGraph build_clip_text_encoder(const ClipTextConfig& cfg, const WeightSource& weights, int batch) {
  auto graph = std::make_shared<Graph>();
  ModuleBuilder m{*graph, weights};
  Graph& g = *graph;
  const int64_t D = cfg.hidden_size, L = cfg.max_positions;
  ClipTextGraph out;
  out.graph = graph;
  out.ids = g.input("input_ids", Shape{batch, L}, DType::kI32);

  TensorId x = ops::embedding(g, m.param("embeddings.token_embedding.weight", Shape{cfg.vocab_size, D}), out.ids);
  x = ops::add(g, x, m.param("embeddings.position_embedding.weight", Shape{L, D}));  // [B, L, D]
  const float scale = 1.0f / std::sqrt(float(D / cfg.num_heads));
  for (int i = 0; i < cfg.num_layers; ++i) {
    if (i == cfg.num_layers - 1) out.penultimate = x;
    const std::string p = "encoder.layers." + std::to_string(i) + ".";
    TensorId h = m.layer_norm(p + "layer_norm1", x, cfg.eps);
    TensorId q = m.linear(p + "self_attn.q_proj", h, D);
    TensorId k = m.linear(p + "self_attn.k_proj", h, D);
    TensorId v = m.linear(p + "self_attn.v_proj", h, D);
    TensorId a = ops::attention(g, q, k, v, cfg.num_heads, scale, /*causal=*/true);
    x = m.linear(p + "self_attn.out_proj", a, D, true, x);
    h = m.layer_norm(p + "layer_norm2", x, cfg.eps);
    h = m.linear(p + "mlp.fc1", h, cfg.intermediate_size);
    h = cfg.act == "gelu" ? ops::gelu(g, h) : ops::quick_gelu(g, h);
    x = m.linear(p + "mlp.fc2", h, D, true, x);
  }
  out.last_hidden = m.layer_norm("final_layer_norm", x, cfg.eps);
  g.mark_output(out.last_hidden, "last_hidden_state");
  // hidden_states[-2] is the input of the last layer; with one layer that is the embeddings themselves.
  g.mark_output(out.penultimate, "penultimate_hidden_state");
  return out;
}

int clip_pooled_position(const ClipTextConfig& cfg, std::span<const int32_t> ids) {
  if (ids.empty()) return 0;
  if (cfg.eos_token_id == 2) return int(std::max_element(ids.begin(), ids.end()) - ids.begin());
  const auto it = std::find(ids.begin(), ids.end(), cfg.eos_token_id);
  return it == ids.end() ? 0 : int(it - ids.begin());
}

ClipProjectionGraph build_clip_text_projection(const ClipTextConfig& cfg, const WeightSource& weights, int batch) {
  if (cfg.projection_dim <= 0)
    throw Error(ErrorCode::kUnsupported, weights.where() + ": this text encoder has no text_projection "
                                                           "(a CLIPTextModelWithProjection has)");
  auto graph = std::make_shared<Graph>();
  ModuleBuilder m{*graph, weights};
  ClipProjectionGraph out;
  out.graph = graph;
  out.pooled = graph->input("pooled_output", Shape{batch, cfg.hidden_size});
  out.text_embeds = m.linear("text_projection", out.pooled, cfg.projection_dim, false);
  graph->mark_output(out.text_embeds, "text_embeds");
  return out;
}

}  // namespace websd
