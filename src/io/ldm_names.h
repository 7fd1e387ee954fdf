// The original CompVis/LDM tensor names of single-file Stable Diffusion checkpoints (and OpenCLIP's, for the
// SD 2.x text encoder), mapped onto the diffusers names the networks read. Nothing is copied: every mapped
// tensor points into the mapped file, at most re-shaped (1×1 conv → linear) or cut to a run of rows (fused
// q/k/v).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "io/safetensors.h"
#include "io/weight_source.h"

namespace websd {

struct MappedTensor {
  std::string source;  // the stored name, with the row range for slices: for messages
  DType dtype = DType::kF32;
  Shape shape;  // as diffusers has it
  std::shared_ptr<MappedFile> owner;
  size_t offset = 0;  // of the bytes in the file
};
using TensorMap = std::map<std::string, MappedTensor>;  // by diffusers name

// The block structure of an LDM UNet, read from which tensors exist (diffusers order: up block 0 is the
// deepest).
struct LdmUNetLayout {
  int blocks = 0, layers_per_block = 0;
  std::vector<bool> down_attention, up_attention;
  bool mid_attention = true;
};

inline const char kLdmUNetPrefix[] = "model.diffusion_model.";
inline const char kLdmVaePrefix[] = "first_stage_model.";
inline const char kLdmTextPrefix[] = "cond_stage_model.";
inline const char kLdmControlPrefix[] = "control_model.";  // single-file ControlNets (lllyasviel's naming)

// Each throws Error(kUnsupported) naming the file when a stored tensor under the component's prefix does not
// fit the SD 1.x/2.x layout: ignoring it would silently compute a different network than the file describes.
LdmUNetLayout infer_ldm_unet_layout(const SafetensorsFile& f);
TensorMap map_ldm_unet(const SafetensorsFile& f, const LdmUNetLayout& layout);
TensorMap map_ldm_vae(const SafetensorsFile& f);
// A ControlNet's encoder half (input_blocks, middle_block, time_embed: the UNet's names), its conditioning
// embedding (input_hint_block: convolutions at the even indices, SiLUs between them), zero_convs and
// middle_block_out, under kLdmControlPrefix, onto diffusers' ControlNetModel names. The layout's up blocks mirror
// the down blocks (a ControlNet has none).
LdmUNetLayout infer_ldm_controlnet_layout(const SafetensorsFile& f);
TensorMap map_ldm_controlnet(const SafetensorsFile& f, const LdmUNetLayout& layout);
// SD 1.x: cond_stage_model.transformer.[text_model.]*, the transformers CLIPTextModel names already.
TensorMap map_hf_clip_text(const SafetensorsFile& f);
// SD 2.x: cond_stage_model.model.* (OpenCLIP). SD 2 conditions on the penultimate layer, so, like diffusers,
// the last resblock is dropped and ln_final applies to the output of the one before.
TensorMap map_open_clip_text(const SafetensorsFile& f);

// Serves a TensorMap, shape- and dtype-checked like SafetensorsWeights.
class MappedWeights final : public WeightSource {
 public:
  MappedWeights(std::string path, TensorMap tensors) : path_(std::move(path)), tensors_(std::move(tensors)) {}
  WeightData get(const std::string& name, const Shape& shape) const override;
  bool contains(const std::string& name) const override { return tensors_.count(name) != 0; }
  std::string where() const override { return path_; }
  std::vector<TensorInfo> list() const override;
  const TensorMap& tensors() const { return tensors_; }

 private:
  std::string path_;
  TensorMap tensors_;
};

}  // namespace websd
