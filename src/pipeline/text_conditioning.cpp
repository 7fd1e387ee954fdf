#include "pipeline/text_conditioning.h"

#include <algorithm>

#include "core/error.h"

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

ClipTextOutputs encode_text(Backend& backend, const ClipTextComponent& text,
                            const std::vector<std::string>& prompts, const std::atomic<bool>* cancel) {
  const int batch = int(prompts.size());
  auto net = build_clip_text_encoder(text.cfg, *text.weights, batch);
  auto exe = backend.compile(net.graph);
  ClipTextOutputs out;
  for (const auto& p : prompts) {
    auto one = text.tokenizer->encode_padded(p, text.cfg.max_positions);
    out.ids.insert(out.ids.end(), one.begin(), one.end());
  }
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

namespace {

class ClipConditioner final : public PromptConditioner {
 public:
  ClipConditioner(std::shared_ptr<Backend> backend, ClipTextComponent text, const std::atomic<bool>* cancel)
      : backend_(std::move(backend)), text_(std::move(text)), cancel_(cancel) {}

  UNetConditioning encode(const std::string& prompt, const std::string& negative, bool guided, int,
                          int) override {
    const auto prompts =
        guided ? std::vector<std::string>{negative, prompt} : std::vector<std::string>{prompt};
    return {encode_text(*backend_, text_, prompts, cancel_).last_hidden, {}, {}};
  }
  int context_dim() const override { return text_.cfg.hidden_size; }
  int context_length() const override { return text_.cfg.max_positions; }
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
