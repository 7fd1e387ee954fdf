// From prompts to what the UNet is conditioned on. One CLIP text encoder with its tokenizer is a
// ClipTextComponent; a PromptConditioner turns (prompt, negative prompt) into a family's UNetConditioning:
// SD 1.x/2.x and LCM condition on the last hidden state of one encoder, SDXL (sdxl_conditioning.h) on two.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "io/model_source.h"
#include "models/clip_text_encoder.h"
#include "pipeline/denoise.h"
#include "text/clip_tokenizer.h"
#include "text/prompt_chunks.h"

namespace websd {

struct ClipTextComponent {
  std::string name;  // "text_encoder", "text_encoder_2"
  std::shared_ptr<const ClipTokenizer> tokenizer;
  ClipTextConfig cfg;
  std::shared_ptr<WeightSource> weights;
  // The ids of each textual-inversion word of several vectors: a prompt chunk never splits one.
  std::vector<std::vector<int32_t>> token_runs;

  // The encoder `encoder` and the tokenizer folder `tokenizer` of a pipeline.
  static ClipTextComponent load(const ModelSource& src, const std::string& encoder,
                                const std::string& tokenizer);
};

struct ClipTextOutputs {
  std::vector<int32_t> ids;        // [B, 77] as the tokenizer padded them
  std::vector<float> last_hidden;  // [B, 77, D] after the final layer norm
  std::vector<float> penultimate;  // [B, 77, D] hidden_states[-2]
  std::vector<float> text_embeds;  // [B, projection_dim]: CLIPTextModelWithProjection's output; else empty
};

// Runs the encoder on rows of max_positions ids (one batch). `cancel` stops it between nodes
// (Error(kCancelled)).
ClipTextOutputs encode_ids(Backend& backend, const ClipTextComponent& text, std::vector<int32_t> ids,
                           const std::atomic<bool>* cancel = nullptr);
// ... on each prompt as diffusers reads one: tokenised as it is, cut after 75 tokens.
ClipTextOutputs encode_text(Backend& backend, const ClipTextComponent& text,
                            const std::vector<std::string>& prompts,
                            const std::atomic<bool>* cancel = nullptr);

// A prompt as the encoder reads it: the web UI's weighting and chunks of 75 tokens (prompt_chunks.h), or with
// `literal` as diffusers reads it (brackets are text, one chunk, the rest cut). Error(kInvalidArgument)
// beyond limits::kMaxPromptChunks chunks.
std::vector<PromptChunk> prompt_chunks(const ClipTextComponent& text, const std::string& prompt,
                                       bool literal);

// The tokens of each chunk prompt_chunks() makes, without its BOS, EOS and padding, and without its limit on
// chunks (for counters that show a prompt going over it); `literal`: one count of the whole prompt, which the
// encoder cuts after max_positions - 2.
std::vector<int> prompt_token_counts(const ClipTextComponent& text, const std::string& prompt, bool literal);

struct EncodedPrompts {
  std::vector<float> states;  // [B, chunks * 77, D]: each chunk's states weighted, in order
  std::vector<float>
      text_embeds;  // [B, projection_dim] from each prompt's first chunk (unweighted); or empty
};
// The encoder's states of every prompt's chunks (one batch), each prompt padded with empty chunks to
// `chunks`; the last hidden state, or hidden_states[-2] with `penultimate`. A chunk's states are multiplied
// by its tokens' weights, then rescaled so that their mean is what it was, as the web UI does.
EncodedPrompts encode_chunks(Backend& backend, const ClipTextComponent& text,
                             const std::vector<std::vector<PromptChunk>>& prompts, int chunks,
                             bool penultimate, const std::atomic<bool>* cancel = nullptr);

class PromptConditioner {
 public:
  virtual ~PromptConditioner() = default;
  // With `guided` (classifier-free guidance) the conditioning of [negative; prompt], else of the prompt
  // alone, both as long as the longer needs (a multiple of 77 tokens). `width`/`height`: the image size (SDXL
  // conditions on it). `literal`: read the prompts as diffusers does (prompt_chunks).
  virtual UNetConditioning encode(const std::string& prompt, const std::string& negative, bool guided,
                                  int width, int height, bool literal) = 0;
  // Width of the text features (the UNet's cross_attention_dim must match).
  virtual int context_dim() const = 0;
  // The encoders it runs, whose weights a LoRA may replace between calls.
  virtual std::vector<ClipTextComponent*> text_components() = 0;
};

// StableDiffusionPipeline and LatentConsistencyModelPipeline: the last hidden state of `text`.
std::unique_ptr<PromptConditioner> make_clip_conditioner(std::shared_ptr<Backend> backend,
                                                         ClipTextComponent text,
                                                         const std::atomic<bool>* cancel);

}  // namespace websd
