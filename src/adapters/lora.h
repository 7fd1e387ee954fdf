// LoRA: low-rank weight deltas W' = W + scale · (alpha / rank) · up · down, read from the two naming schemes in
// the wild — kohya/A1111 (`lora_unet_<module>.lora_down.weight` / `.lora_up.weight` / `.alpha`, `lora_te_…`,
// SDXL's `lora_te1_`/`lora_te2_` and its original `input_blocks_…` UNet names, conv LoRA) and diffusers/PEFT
// (`unet.<module>.lora_A.weight` / `.lora_B.weight`, `text_encoder.…`, also the older `.lora.down`/`.lora.up`
// and attention-processor names) — and merged into the weights when a network is built.
//
// Merged, not applied at run time: a merged network runs exactly as fast as the plain one (a run-time LoRA adds
// two small GEMMs per adapted layer, several hundred dispatches per SD 1.5 UNet call), and the merge runs where
// the weights live (on the GPU for webgpu), so switching LoRAs uploads only their factors (docs/lora.md has the
// measurements).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/low_rank.h"
#include "io/safetensors.h"
#include "io/weight_source.h"

namespace websd {

struct UNetConfig;

// One adapted layer of a LoRA file.
struct LoraModule {
  std::string component;  // "unet", "text_encoder", "text_encoder_2"
  std::string key;        // the stored key without its suffixes, for messages
  std::string module;     // the layer's name: dotted (diffusers) or with '_' for '.' (kohya)
  bool underscored = false;
  TensorView down, up;    // down [rank, in...], up [out, rank(, 1, 1)]
  float alpha = 0;        // alpha / rank, folded in
};

class LoraFile {
 public:
  // Reads `path` (.safetensors; pickled files are refused). Throws Error(kCorruptFile / kUnsupported) naming the
  // file: LyCORIS variants (LoHa, LoKr, DoRA, Tucker "lora_mid") are named as not supported.
  static std::shared_ptr<const LoraFile> open(const std::string& path);
  const std::string& path() const { return path_; }
  const std::vector<LoraModule>& modules() const { return modules_; }

 private:
  std::string path_;
  std::vector<LoraModule> modules_;
};

// A LoRA in use and its strengths: for the text encoder(s) and for the UNet (the same unless the prompt's
// `<lora:NAME:TE:UNET>` gives two).
struct LoraUse {
  std::shared_ptr<const LoraFile> file;
  float text_scale = 1.0f, unet_scale = 1.0f;
};

// A LoRA asked for by path: GenerateParams::loras, `--lora FILE[:SCALE]`, a prompt's `<lora:NAME:SCALE>`.
struct LoraRequest {
  std::string path;
  float text_scale = 1.0f, unet_scale = 1.0f;
};

// Cuts every `<lora:NAME>`, `<lora:NAME:SCALE>` and `<lora:NAME:TE:UNET>` (also `te=`/`unet=` named, as the
// widely used web UI writes them) out of `prompt` and returns them with NAME as their path. A malformed tag
// (an empty name, a scale that is not a number) is an Error(kInvalidArgument) quoting it.
std::vector<LoraRequest> take_lora_tags(std::string& prompt);

// `FILE[:SCALE]` as the command line and the Node runner take it (SCALE defaults to 1). Error(kInvalidArgument)
// when SCALE is not a number.
LoraRequest parse_lora_argument(const std::string& arg);

// The file a prompt's LoRA NAME stands for in `dir`: dir/NAME.safetensors (or dir/NAME when it has that
// extension). Error(kNotFound) naming the tag and the folder.
std::string find_lora(const std::string& dir, const std::string& name);

// How LoRAs reach the network. Merged (the default): W' = W + Σ s·up·down replaces W, so a network with LoRAs
// runs as fast as one without; the webgpu backend merges on the GPU (a switch uploads only the factors), at the
// cost of a second copy of each adapted weight. At run time: W stays, and each adapted layer also computes
// up · (down · x) (two small GEMMs more per layer and step), with no copies (docs/lora.md compares the two).
enum class LoraMode { kMerged, kRunTime };

// The weights of one component with the LoRAs applied to those they adapt: every other tensor is the base's
// own WeightData (so its GPU copy is reused). Merged, an adapted weight is a low-rank sum (core/low_rank.h) that
// each backend computes where the base lives (the webgpu backend on the GPU), kept while this lives; merged
// weights are f32 where that is under 4 MiB (exact: tiny models, small layers), else in the base's storage type
// (f16 rounded once, q8 re-quantised per row): the size of one more rounding of the weights. At run time the
// weights are the base's and run_time_low_rank() gives the factors.
class LoraWeights final : public WeightSource {
 public:
  struct Term {
    const LoraModule* module;  // kept alive by `files`
    float scale;               // the use's scale × alpha / rank
  };
  LoraWeights(std::shared_ptr<WeightSource> base, std::map<std::string, std::vector<Term>> terms,
              std::vector<std::shared_ptr<const LoraFile>> files, LoraMode mode);
  WeightData get(const std::string& name, const Shape& shape) const override;
  std::shared_ptr<const LowRankSum> run_time_low_rank(const std::string& name, const Shape& shape) const override;
  bool contains(const std::string& name) const override { return base_->contains(name); }
  std::string where() const override { return base_->where() + " with LoRA"; }
  std::vector<TensorInfo> list() const override { return base_->list(); }
  size_t adapted() const { return terms_.size(); }

 private:
  // The weight's LoRAs stacked into one pair of factors, computed once.
  std::shared_ptr<const LowRankSum> factors(const std::string& name, const Shape& shape) const;
  std::shared_ptr<WeightSource> base_;
  std::map<std::string, std::vector<Term>> terms_;  // by weight name
  std::vector<std::shared_ptr<const LoraFile>> files_;
  LoraMode mode_;
  mutable std::map<std::string, std::shared_ptr<const LowRankSum>> factors_;
  mutable std::map<std::string, WeightData> merged_;
};

// The model's component weights, each wrapped with the LoRAs that adapt it (components no LoRA touches are
// returned as they are). `unet` resolves SDXL's original UNet names. Throws Error(kInvalidArgument) when a
// LoRA's layer matches no weight of the model, naming the file and the first keys, or when shapes disagree.
std::map<std::string, std::shared_ptr<WeightSource>> apply_loras(
    const std::map<std::string, std::shared_ptr<WeightSource>>& components, const UNetConfig& unet,
    const std::vector<LoraUse>& loras, LoraMode mode = LoraMode::kMerged);

// "merged" or "runtime" (the option's values in the CLI, the C API's JSON and the Node runner); Error
// (kInvalidArgument) naming the value otherwise.
LoraMode parse_lora_mode(const std::string& name);
const char* lora_mode_name(LoraMode mode);

}  // namespace websd
