#include "pipeline/text_conditioning.h"

#include <algorithm>

#include "core/error.h"
#include "pipeline/limits.h"

namespace websd {

ClipTextComponent ClipTextComponent::load(const ModelSource& src, const std::string& encoder,
                                          const std::string& tokenizer) {
  ClipTextComponent c;
  c.name = encoder;
  c.tokenizer =
      std::make_shared<const ClipTokenizer>(ClipTokenizer::from_folder(src.tokenizer_dir(tokenizer)));
  c.cfg = ClipTextConfig::from(src.config(encoder));
  c.weights = src.weights(encoder);
  return c;
}

ClipTextOutputs encode_ids(Backend& backend, const ClipTextComponent& text, std::vector<int32_t> ids,
                           const std::atomic<bool>* cancel) {
  const int batch = int(ids.size() / size_t(text.cfg.max_positions));
  auto net = build_clip_text_encoder(text.cfg, *text.weights, batch);
  auto exe = backend.compile(net.graph);
  ClipTextOutputs out;
  out.ids = std::move(ids);
  exe->set_input(net.ids, out.ids.data());
  exe->run(cancel);
  const size_t states = size_t(net.graph->shape(net.last_hidden).numel());
  out.last_hidden.resize(states);
  out.penultimate.resize(states);
  exe->read(net.last_hidden, out.last_hidden.data());
  exe->read(net.penultimate, out.penultimate.data());
  if (text.cfg.projection_dim <= 0) return out;

  // text_embeds: the projection of the final states at each row's pooling position.
  const size_t L = size_t(text.cfg.max_positions), D = size_t(text.cfg.hidden_size);
  std::vector<float> pooled(size_t(batch) * D);
  for (size_t b = 0; b < size_t(batch); ++b) {
    const size_t pos = size_t(clip_pooled_position(text.cfg, {out.ids.data() + b * L, L}));
    std::copy_n(out.last_hidden.begin() + long((b * L + pos) * D), D, pooled.begin() + long(b * D));
  }
  auto proj = build_clip_text_projection(text.cfg, *text.weights, batch);
  auto proj_exe = backend.compile(proj.graph);
  proj_exe->set_input(proj.pooled, pooled.data());
  proj_exe->run(cancel);
  out.text_embeds.resize(size_t(proj.graph->shape(proj.text_embeds).numel()));
  proj_exe->read(proj.text_embeds, out.text_embeds.data());
  return out;
}

ClipTextOutputs encode_text(Backend& backend, const ClipTextComponent& text,
                            const std::vector<std::string>& prompts, const std::atomic<bool>* cancel) {
  std::vector<int32_t> ids;
  for (const auto& p : prompts) {
    auto one = text.tokenizer->encode_padded(p, text.cfg.max_positions);
    ids.insert(ids.end(), one.begin(), one.end());
  }
  return encode_ids(backend, text, std::move(ids), cancel);
}

namespace {

ChunkRules chunk_rules(const ClipTextComponent& text) {
  ChunkRules rules;
  rules.max_positions = text.cfg.max_positions;
  rules.keep_together = text.token_runs;
  return rules;
}

}  // namespace

std::vector<int> prompt_token_counts(const ClipTextComponent& text, const std::string& prompt, bool literal) {
  if (literal) return {int(text.tokenizer->encode(prompt).size())};
  std::vector<int> counts;
  for (const PromptChunk& chunk : chunk_prompt(*text.tokenizer, parse_prompt_weights(prompt), chunk_rules(text))) {
    // A chunk is BOS, its tokens, EOS, then padding.
    const auto eos = std::find(chunk.ids.begin() + 1, chunk.ids.end(), text.tokenizer->eos_id());
    counts.push_back(int(eos - chunk.ids.begin()) - 1);
  }
  return counts;
}

std::vector<PromptChunk> prompt_chunks(const ClipTextComponent& text, const std::string& prompt,
                                       bool literal) {
  const int L = text.cfg.max_positions;
  if (literal) return {{text.tokenizer->encode_padded(prompt, L), std::vector<float>(size_t(L), 1.0f)}};
  std::vector<PromptChunk> chunks = chunk_prompt(*text.tokenizer, parse_prompt_weights(prompt), chunk_rules(text));
  if (chunks.size() > size_t(limits::kMaxPromptChunks))
    throw Error(ErrorCode::kInvalidArgument,
                "a prompt needs " + std::to_string(chunks.size()) + " chunks of " + std::to_string(L - 2) +
                    " tokens; at most " + std::to_string(limits::kMaxPromptChunks) + " (" +
                    std::to_string(limits::kMaxPromptChunks * (L - 2)) + " tokens) are read: shorten it");
  return chunks;
}

namespace {

// The web UI's emphasis: each token's states times its weight, then all of the chunk's rescaled to the mean
// they had.
void weigh_chunk(float* states, const std::vector<float>& weights, size_t D) {
  if (std::all_of(weights.begin(), weights.end(), [](float w) { return w == 1.0f; })) return;
  const size_t n = weights.size() * D;
  auto mean = [&] {
    double sum = 0;
    for (size_t i = 0; i < n; ++i) sum += states[i];
    return float(sum / double(n));
  };
  const float before = mean();
  for (size_t t = 0; t < weights.size(); ++t)
    for (size_t d = 0; d < D; ++d) states[t * D + d] *= weights[t];
  const float ratio = before / mean();
  for (size_t i = 0; i < n; ++i) states[i] *= ratio;
}

}  // namespace

EncodedPrompts encode_chunks(Backend& backend, const ClipTextComponent& text,
                             const std::vector<std::vector<PromptChunk>>& prompts, int chunks,
                             bool penultimate, const std::atomic<bool>* cancel) {
  const size_t L = size_t(text.cfg.max_positions), D = size_t(text.cfg.hidden_size);
  const PromptChunk empty = empty_chunk(*text.tokenizer, int(L));
  std::vector<const PromptChunk*> rows;  // every prompt's chunks, padded, in order
  for (const auto& p : prompts)
    for (size_t c = 0; c < size_t(chunks); ++c) rows.push_back(c < p.size() ? &p[c] : &empty);
  std::vector<int32_t> ids;
  for (const PromptChunk* r : rows) ids.insert(ids.end(), r->ids.begin(), r->ids.end());
  ClipTextOutputs enc = encode_ids(backend, text, std::move(ids), cancel);
  EncodedPrompts out;
  out.states = penultimate ? std::move(enc.penultimate) : std::move(enc.last_hidden);
  for (size_t r = 0; r < rows.size(); ++r) weigh_chunk(out.states.data() + r * L * D, rows[r]->weights, D);
  if (!enc.text_embeds.empty()) {
    const size_t P = enc.text_embeds.size() / rows.size();
    for (size_t b = 0; b < prompts.size(); ++b) {
      const auto first = enc.text_embeds.begin() + long(b * size_t(chunks) * P);
      out.text_embeds.insert(out.text_embeds.end(), first, first + long(P));
    }
  }
  return out;
}

namespace {

class ClipConditioner final : public PromptConditioner {
 public:
  ClipConditioner(std::shared_ptr<Backend> backend, ClipTextComponent text, const std::atomic<bool>* cancel)
      : backend_(std::move(backend)), text_(std::move(text)), cancel_(cancel) {}

  UNetConditioning encode(const std::string& prompt, const std::string& negative, bool guided, int, int,
                          bool literal) override {
    std::vector<std::vector<PromptChunk>> chunks;
    if (guided) chunks.push_back(prompt_chunks(text_, negative, literal));
    chunks.push_back(prompt_chunks(text_, prompt, literal));
    size_t n = 0;
    for (const auto& c : chunks) n = std::max(n, c.size());
    return {encode_chunks(*backend_, text_, chunks, int(n), false, cancel_).states, {}, {}};
  }
  int context_dim() const override { return text_.cfg.hidden_size; }
  std::vector<ClipTextComponent*> text_components() override { return {&text_}; }

 private:
  std::shared_ptr<Backend> backend_;
  ClipTextComponent text_;
  const std::atomic<bool>* cancel_;
};

}  // namespace

std::unique_ptr<PromptConditioner> make_clip_conditioner(std::shared_ptr<Backend> backend,
                                                         ClipTextComponent text,
                                                         const std::atomic<bool>* cancel) {
  return std::make_unique<ClipConditioner>(std::move(backend), std::move(text), cancel);
}

}  // namespace websd
