#include "pipeline/sdxl_conditioning.h"

#include <algorithm>

#include "core/error.h"
#include "models/unet_embeddings.h"

namespace websd {

std::array<float, 6> sdxl_time_ids(int width, int height) {
  return {float(height), float(width), 0.0f, 0.0f, float(height), float(width)};
}

namespace {

class SdxlConditioner final : public PromptConditioner {
 public:
  SdxlConditioner(std::shared_ptr<Backend> backend, ClipTextComponent text, ClipTextComponent text_2,
                  const UNetConfig& unet, bool force_zeros, const std::atomic<bool>* cancel)
      : backend_(std::move(backend)),
        text_{std::move(text), std::move(text_2)},
        unet_(unet),
        force_zeros_(force_zeros),
        cancel_(cancel) {
    const ClipTextConfig &a = text_[0].cfg, &b = text_[1].cfg;
    if (b.projection_dim <= 0)
      throw Error(ErrorCode::kUnsupported, text_[1].weights->where() +
                                               ": SDXL's text_encoder_2 must be a "
                                               "CLIPTextModelWithProjection (its pooled output "
                                               "conditions the UNet)");
    if (a.max_positions != b.max_positions)
      throw Error(ErrorCode::kCorruptFile, "text_encoder and text_encoder_2 take different prompt lengths (" +
                                               std::to_string(a.max_positions) + " and " +
                                               std::to_string(b.max_positions) + ")");
    if (!unet.text_time)
      throw Error(ErrorCode::kUnsupported,
                  "an SDXL pipeline needs a UNet with addition_embed_type \"text_time\"");
    const int want = b.projection_dim + 6 * unet.addition_time_embed_dim;
    if (unet.projection_class_embeddings_input_dim != want)
      throw Error(ErrorCode::kCorruptFile,
                  "the UNet's projection_class_embeddings_input_dim is " +
                      std::to_string(unet.projection_class_embeddings_input_dim) + ", but text_encoder_2's " +
                      "projection_dim " + std::to_string(b.projection_dim) +
                      " + 6 x addition_time_embed_dim " + std::to_string(unet.addition_time_embed_dim) +
                      " is " + std::to_string(want));
  }

  UNetConditioning encode(const std::string& prompt, const std::string& negative, bool guided, int width,
                          int height, bool literal) override {
    // Entries that are encoded; a zeroed unconditional entry is not.
    const bool zero_uncond = guided && negative.empty() && force_zeros_;
    std::vector<std::string> prompts{prompt};
    if (guided && !zero_uncond) prompts.insert(prompts.begin(), negative);
    // Each encoder's tokenizer chunks the prompts; all are padded to the longest.
    std::vector<std::vector<PromptChunk>> chunks[2];
    size_t n = 0;
    for (int e = 0; e < 2; ++e)
      for (const std::string& p : prompts)
        n = std::max(n, chunks[e].emplace_back(prompt_chunks(text_[e], p, literal)).size());
    const EncodedPrompts first = encode_chunks(*backend_, text_[0], chunks[0], int(n), true, cancel_);
    const EncodedPrompts second = encode_chunks(*backend_, text_[1], chunks[1], int(n), true, cancel_);

    const size_t L = n * size_t(text_[0].cfg.max_positions), D1 = size_t(text_[0].cfg.hidden_size),
                 D2 = size_t(text_[1].cfg.hidden_size), P = size_t(text_[1].cfg.projection_dim);
    UNetConditioning out;
    const std::array<float, 6> ids = sdxl_time_ids(width, height);
    if (zero_uncond) {
      out.context.assign(L * (D1 + D2), 0.0f);
      out.added = text_time_condition(unet_, std::vector<float>(P, 0.0f), ids);
    }
    for (size_t b = 0; b < prompts.size(); ++b) {
      for (size_t t = 0; t < L; ++t) {
        const auto row1 = first.states.begin() + long((b * L + t) * D1);
        const auto row2 = second.states.begin() + long((b * L + t) * D2);
        out.context.insert(out.context.end(), row1, row1 + long(D1));
        out.context.insert(out.context.end(), row2, row2 + long(D2));
      }
      const std::vector<float> added =
          text_time_condition(unet_, {second.text_embeds.data() + b * P, P}, ids);
      out.added.insert(out.added.end(), added.begin(), added.end());
    }
    return out;
  }
  int context_dim() const override { return text_[0].cfg.hidden_size + text_[1].cfg.hidden_size; }
  std::vector<ClipTextComponent*> text_components() override { return {&text_[0], &text_[1]}; }

 private:
  std::shared_ptr<Backend> backend_;
  ClipTextComponent text_[2];
  UNetConfig unet_;
  bool force_zeros_;
  const std::atomic<bool>* cancel_;
};

}  // namespace

std::unique_ptr<PromptConditioner> make_sdxl_conditioner(std::shared_ptr<Backend> backend,
                                                         ClipTextComponent text, ClipTextComponent text_2,
                                                         const UNetConfig& unet,
                                                         bool force_zeros_for_empty_prompt,
                                                         const std::atomic<bool>* cancel) {
  return std::make_unique<SdxlConditioner>(std::move(backend), std::move(text), std::move(text_2), unet,
                                           force_zeros_for_empty_prompt, cancel);
}

}  // namespace websd
