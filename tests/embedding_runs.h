// diffusers' textual inversion reference on tiny-sd1 (fixtures README, tiny-sd1-creative: load_textual_inversion(
// tiny-style.safetensors, token="<tiny-style>")), one table for the cpu tests (test_embedding.cpp) and the
// webgpu parity checks (web/model_parity.cpp): the run's arguments as GenerateParams and the text encoder's
// output with the embedding.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "adapters/embedding.h"
#include "backends/backend.h"
#include "creative_runs.h"
#include "io/model_source.h"
#include "pipeline/stable_diffusion.h"
#include "pipeline/text_conditioning.h"

namespace websd::test {

inline constexpr const char* kEmbeddingRun = "ti_dpmpp_2m";
// The run's seed: its first latents correlate with randn(1357) and no other seed below 200000 (lora_runs.h).
inline constexpr uint64_t kEmbeddingSeed = 1357;

// The run's arguments (creative_runs.h) with the embedding under the run's word.
inline GenerateParams embedding_run_params(const nlohmann::json& run, const std::string& creative_dir) {
  GenerateParams p = creative_run_params(run, kEmbeddingSeed, "dpmpp_2m");
  p.embeddings = {{creative_dir + "/" + run["embedding"]["file"].get<std::string>(), run["embedding"]["token"]}};
  return p;
}

// tiny-sd1's text encoder on `backend` with the run's embedding, for its prompt: the fixture's ti/text_cond.
// (expand_embedding_words is not applied: see below.)
inline std::vector<float> embedding_text_cond(Backend& backend, const std::string& fixtures) {
  const std::string creative = fixtures + "/tiny-sd1-creative";
  const nlohmann::json run = Config::load(creative + "/reference.json").json()["runs"][kEmbeddingRun];
  const auto model = open_model_source(fixtures + "/tiny-sd1/model");
  const std::vector<EmbeddingUse> uses{
      {EmbeddingFile::open(creative + "/" + run["embedding"]["file"].get<std::string>()), run["embedding"]["token"]}};
  const ClipTextComponent text = with_embeddings(ClipTextComponent::load(*model, "text_encoder", "tokenizer"), uses);
  // The fixture encoded the prompt as the tokenizer reads it, without the pipeline's spelling-out of the word
  // (maybe_convert_prompt): the word's first entry alone. The run's image checks the spelled-out prompt.
  return encode_text(backend, text, {run["args"]["prompt"].get<std::string>()}).last_hidden;
}

}  // namespace websd::test
