#include "io/pipeline_folder.h"

#include <filesystem>

#include "core/error.h"

namespace websd {
namespace fs = std::filesystem;

PipelineFolder PipelineFolder::open(const std::string& dir) {
  if (!fs::is_directory(dir))
    throw Error(ErrorCode::kNotFound, dir + ": no such model folder (expected a diffusers pipeline folder)");
  if (!fs::exists(dir + "/model_index.json"))
    throw Error(ErrorCode::kNotFound, dir + "/model_index.json: missing; is " + dir +
                                          " a diffusers pipeline folder (model_index.json, unet/, vae/, ...)?");
  PipelineFolder p;
  p.dir_ = dir;
  p.index_ = Config::load(dir + "/model_index.json");
  return p;
}

bool PipelineFolder::has_component(const std::string& name) const {
  if (!index_.has(name)) return false;
  const auto& v = index_.json()[name];
  return v.is_array() && v.size() == 2 && !v[0].is_null();
}

Config PipelineFolder::config(const std::string& component) const {
  const std::string cdir = component_dir(component);
  if (!fs::is_directory(cdir))
    throw Error(ErrorCode::kNotFound, cdir + ": component folder is missing (incomplete download?)");
  if (fs::exists(cdir + "/scheduler_config.json")) return Config::load(cdir + "/scheduler_config.json");
  return Config::load(cdir + "/config.json");
}

std::vector<std::string> find_weight_files(const std::string& dir) {
  if (!fs::is_directory(dir))
    throw Error(ErrorCode::kNotFound, dir + ": component folder is missing (incomplete download?)");
  std::vector<std::string> safetensors, shards_index, pickled;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name.ends_with(".safetensors")) safetensors.push_back(name);
    if (name.ends_with(".safetensors.index.json")) shards_index.push_back(name);
    if (name.ends_with(".bin") || name.ends_with(".ckpt") || name.ends_with(".pt") || name.ends_with(".pth"))
      pickled.push_back(name);
  }
  std::sort(safetensors.begin(), safetensors.end());
  if (!shards_index.empty()) {
    Config idx = Config::load(dir + "/" + shards_index.front());
    if (!idx.has("weight_map") || !idx.json()["weight_map"].is_object())
      idx.invalid("weight_map", "is missing; cannot find the shards");
    std::vector<std::string> files;
    for (const auto& [k, v] : idx.json()["weight_map"].items()) {
      std::string f = dir + "/" + v.get<std::string>();
      if (std::find(files.begin(), files.end(), f) == files.end()) files.push_back(f);
    }
    return files;
  }
  // One file: prefer the fp16 variant diffusers saves as *.fp16.safetensors (half the bytes, and what every backend
  // computes with: f16 weights stay f16 on the GPU), then the full-precision name. The page's loader asks for the
  // same names in the same order (web/src/worker/model-fetch.ts, WEIGHT_NAMES), so one folder is the same model
  // everywhere.
  for (const char* preferred : {"diffusion_pytorch_model.fp16.safetensors", "model.fp16.safetensors",
                                "diffusion_pytorch_model.safetensors", "model.safetensors"})
    if (std::find(safetensors.begin(), safetensors.end(), preferred) != safetensors.end())
      return {dir + "/" + preferred};
  if (safetensors.size() == 1) return {dir + "/" + safetensors.front()};
  if (!pickled.empty())
    throw Error(ErrorCode::kUnsupported,
                dir + "/" + pickled.front() +
                    ": pickled PyTorch weights are not loaded by websd, because unpickling can run arbitrary code. "
                    "Convert them to .safetensors first (for example with diffusers: "
                    "pipe.save_pretrained(dir, safe_serialization=True)).");
  if (safetensors.size() > 1)
    throw Error(ErrorCode::kCorruptFile, dir + ": several .safetensors files but no *.safetensors.index.json to "
                                               "say which tensors each holds");
  throw Error(ErrorCode::kNotFound, dir + ": no .safetensors weights found");
}

std::shared_ptr<SafetensorsWeights> PipelineFolder::weights(const std::string& component) const {
  std::vector<SafetensorsFile> files;
  for (const auto& f : find_weight_files(component_dir(component))) files.push_back(SafetensorsFile::open(f));
  // transformers saves CLIP text encoders with or without the `text_model.` prefix, depending on its version.
  std::string prefix;
  for (const auto& f : files)
    for (const auto& [name, t] : f.tensors())
      if (name.starts_with("text_model.")) prefix = "text_model.";
  return std::make_shared<SafetensorsWeights>(std::move(files), prefix);
}

}  // namespace websd
