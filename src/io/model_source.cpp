#include "io/model_source.h"

#include <filesystem>

#include "core/error.h"
#include "io/controlnet_source.h"
#include "io/pack.h"
#include "io/pack_source.h"
#include "io/pipeline_folder.h"
#include "io/single_file.h"

namespace websd {
namespace {

class FolderSource final : public ModelSource {
 public:
  explicit FolderSource(PipelineFolder f) : f_(std::move(f)) {}
  std::string path() const override { return f_.dir(); }
  std::string pipeline_class() const override { return f_.pipeline_class(); }
  Config pipeline_config() const override { return f_.index(); }
  bool has_component(const std::string& name) const override { return f_.has_component(name); }
  Config config(const std::string& component) const override { return f_.config(component); }
  std::shared_ptr<WeightSource> weights(const std::string& component) const override { return f_.weights(component); }
  std::string tokenizer_dir(const std::string& component) const override { return f_.component_dir(component); }

 private:
  PipelineFolder f_;
};

bool ends_with_any(const std::string& s, std::initializer_list<const char*> suffixes) {
  for (const char* x : suffixes)
    if (s.ends_with(x)) return true;
  return false;
}

}  // namespace

std::unique_ptr<ModelSource> open_model_source(const std::string& path, const ModelSourceOptions& options) {
  namespace fs = std::filesystem;
  if (fs::is_directory(path) && fs::exists(fs::path(path) / kPackManifest)) return open_pack(path);
  if (fs::path(path).filename() == kPackManifest) return open_pack(fs::path(path).parent_path().string());
  if (is_controlnet(path)) return open_controlnet_source(path);
  if (fs::is_directory(path)) return std::make_unique<FolderSource>(PipelineFolder::open(path));
  if (!fs::exists(path))
    throw Error(ErrorCode::kNotFound, path + ": no such file or folder (expected a diffusers pipeline folder or a "
                                             ".safetensors checkpoint)");
  if (ends_with_any(path, {".ckpt", ".bin", ".pt", ".pth", ".pkl"}))
    throw Error(ErrorCode::kUnsupported,
                path + ": pickled PyTorch checkpoints are not loaded by websd, because unpickling can run arbitrary "
                       "code on your machine. Convert it to .safetensors first, for example with the safetensors "
                       "'convert' tool or diffusers (StableDiffusionPipeline.from_single_file(path).save_pretrained"
                       "(dir, safe_serialization=True)), then pass the new file or folder.");
  if (!path.ends_with(".safetensors"))
    throw Error(ErrorCode::kUnsupported, path + ": unknown model format; websd opens diffusers folders and "
                                                ".safetensors checkpoints");
  return open_single_file(path, options);
}

}  // namespace websd
