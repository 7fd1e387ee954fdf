#include "io/pack_source.h"

#include <filesystem>
#include <map>
#include <vector>

#include "core/error.h"
#include "io/pack.h"
#include "io/safetensors.h"

namespace websd {
namespace fs = std::filesystem;
namespace {

// The tensors of one component, pointing into the mapped shards.
class PackWeights final : public WeightSource {
 public:
  PackWeights(std::string where, std::map<std::string, WeightData> tensors)
      : where_(std::move(where)), tensors_(std::move(tensors)) {}

  WeightData get(const std::string& name, const Shape& shape) const override {
    auto it = tensors_.find(name);
    if (it == tensors_.end())
      throw Error(ErrorCode::kNotFound, where_ + ": tensor '" + name + "' is missing from the pack");
    if (it->second.shape != shape)
      throw Error(ErrorCode::kShapeMismatch, where_ + ": tensor '" + name + "' has shape " +
                                                 it->second.shape.str() + " but the config describes " + shape.str());
    return it->second;
  }
  bool contains(const std::string& name) const override { return tensors_.count(name) != 0; }
  std::string where() const override { return where_; }
  std::vector<TensorInfo> list() const override {
    std::vector<TensorInfo> out;
    for (const auto& [name, w] : tensors_) out.push_back({name, w.dtype, w.shape});
    return out;
  }

 private:
  std::string where_;
  std::map<std::string, WeightData> tensors_;
};

class PackSource final : public ModelSource {
 public:
  explicit PackSource(const std::string& dir) : dir_(dir), manifest_path_(dir + "/" + kPackManifest) {
    manifest_ = Config::load(manifest_path_);
    const auto& m = manifest_.json();
    if (!m.is_object() || m.value("format", nlohmann::json()) != kPackFormat)
      throw Error(ErrorCode::kCorruptFile, manifest_path_ + ": not a websd pack manifest (format is not \"" +
                                               std::string(kPackFormat) + "\")");
    const auto version = m.find("version");
    if (version == m.end() || !version->is_number_integer() || version->get<int64_t>() != kPackVersion)
      throw Error(ErrorCode::kUnsupported, manifest_path_ + ": pack version " + m.value("version", nlohmann::json()).dump() +
                                               " is not readable by this websd (it reads version " +
                                               std::to_string(kPackVersion) + "); convert the model again");
    if (!m.contains("shards") || !m["shards"].is_array() || !m.contains("components") || !m["components"].is_object())
      throw Error(ErrorCode::kCorruptFile, manifest_path_ + ": needs \"shards\" and \"components\"");
    for (const auto& s : m["shards"]) {
      const auto file = s.is_object() ? s.find("file") : s.end();
      // Plain file names beside the manifest only: a pack must not reach outside its folder.
      if (file == s.end() || !file->is_string() || file->get<std::string>().empty() ||
          file->get<std::string>().find_first_of("/\\") != std::string::npos || file->get<std::string>()[0] == '.')
        throw Error(ErrorCode::kCorruptFile, manifest_path_ + ": a shard entry needs a plain \"file\" name in the pack "
                                                 "folder, got " + s.dump().substr(0, 200));
      const std::string path = dir_ + "/" + file->get<std::string>();
      if (!fs::exists(path))
        throw Error(ErrorCode::kNotFound, path + ": shard missing from the pack (incomplete download?)");
      const uint64_t bytes = count_field(s, "bytes", manifest_path_ + ": shard " + file->get<std::string>());
      if (fs::file_size(path) != bytes)
        throw Error(ErrorCode::kCorruptFile, path + ": shard has " + std::to_string(fs::file_size(path)) +
                                                 " bytes, the manifest says " + std::to_string(bytes) +
                                                 " (re-download it)");
      shards_.push_back(MappedFile::open(path));
    }
  }

  std::string path() const override { return dir_; }
  std::string pipeline_class() const override { return pipeline_config().get_string("_class_name", "?"); }
  Config pipeline_config() const override { return Config(manifest_.json().value("pipeline", nlohmann::json::object()), manifest_path_); }
  bool has_component(const std::string& name) const override { return manifest_.json()["components"].contains(name); }

  Config config(const std::string& component) const override {
    const auto& c = component_json(component);
    if (!c.contains("config")) throw Error(ErrorCode::kCorruptFile, manifest_path_ + ": " + component + " has no config");
    return Config(c["config"], manifest_path_ + " (" + component + ")");
  }

  std::shared_ptr<WeightSource> weights(const std::string& component) const override {
    const auto& c = component_json(component);
    std::map<std::string, WeightData> tensors;
    const std::string where = manifest_path_ + " (" + component + ")";
    const nlohmann::json table = c.is_object() ? c.value("tensors", nlohmann::json::object()) : nlohmann::json();
    if (!table.is_object())
      throw Error(ErrorCode::kCorruptFile, where + ": \"tensors\" is not a table of tensors (damaged manifest?)");
    for (const auto& [name, e] : table.items()) {
      WeightData w;
      w.name = name;
      const std::string what = where + ": tensor '" + name + "'";
      if (!e.is_object()) throw Error(ErrorCode::kCorruptFile, what + " is not an object (damaged manifest?)");
      auto dtype = dtype_from_name(e.contains("dtype") && e["dtype"].is_string() ? e["dtype"].get<std::string>() : "");
      if (!dtype) throw Error(ErrorCode::kCorruptFile, what + " has an unknown dtype");
      w.dtype = *dtype;
      w.shape = shape_of(e, what);
      const auto [shard, offset] = slice(e, uint64_t(w.shape.numel()) * dtype_size(w.dtype), what);
      std::shared_ptr<MappedFile> scales_file;
      size_t scales_offset = 0;
      if (w.dtype == DType::kI8) {
        if (!e.contains("scales") || w.shape.rank() == 0)
          throw Error(ErrorCode::kCorruptFile, what + " is q8 without per-row scales (damaged manifest?)");
        const auto [scales_shard, at] =
            slice(e["scales"], uint64_t(w.shape[0]) * sizeof(float), what + " (scales)");
        scales_file = shards_[scales_shard];
        scales_offset = at;
      }
      tensors.emplace(name, file_weight(name, w.dtype, w.shape, shards_[shard], offset, scales_file, scales_offset));
    }
    return std::make_shared<PackWeights>(where, std::move(tensors));
  }

  std::string tokenizer_dir(const std::string& component) const override {
    component_json(component);
    return dir_ + "/" + component;
  }

 private:
  const nlohmann::json& component_json(const std::string& component) const {
    const auto& comps = manifest_.json()["components"];
    if (!comps.contains(component))
      throw Error(ErrorCode::kCorruptFile, manifest_path_ + ": the pack has no " + component + " component");
    return comps[component];
  }

  // A non-negative integer field of a table entry.
  static uint64_t count_field(const nlohmann::json& e, const char* key, const std::string& what) {
    const auto it = e.is_object() ? e.find(key) : e.end();
    if (it == e.end() || !it->is_number_unsigned())
      throw Error(ErrorCode::kCorruptFile, what + ": \"" + key + "\" is missing or not a non-negative integer "
                                                  "(damaged manifest?)");
    return it->get<uint64_t>();
  }

  // The shape of a table entry: non-negative dimensions whose element count cannot overflow (at most 2^48, far
  // beyond any shard), so that its byte size is exact.
  static Shape shape_of(const nlohmann::json& e, const std::string& what) {
    const auto it = e.find("shape");
    if (it == e.end() || !it->is_array() || it->size() > 8)
      throw Error(ErrorCode::kCorruptFile, what + ": \"shape\" is missing or not a list of up to 8 dimensions");
    std::vector<int64_t> dims;
    uint64_t numel = 1;
    for (const auto& d : *it) {
      if (!d.is_number_unsigned() || d.get<uint64_t>() > (uint64_t(1) << 48))
        throw Error(ErrorCode::kCorruptFile, what + ": shape " + it->dump() + " has a dimension that is not a "
                                                    "non-negative integer of plausible size");
      const uint64_t x = d.get<uint64_t>();
      if (x != 0 && numel > (uint64_t(1) << 48) / x)
        throw Error(ErrorCode::kCorruptFile, what + ": shape " + it->dump() + " is implausibly large");
      numel *= x;
      dims.push_back(int64_t(x));
    }
    return Shape(dims);
  }

  // The {shard, offset} of a table entry {shard, offset, nbytes}, bounds-checked against the shard (without
  // overflow: offset and nbytes come from the file).
  std::pair<size_t, size_t> slice(const nlohmann::json& e, uint64_t expected, const std::string& what) const {
    const uint64_t shard = count_field(e, "shard", what), offset = count_field(e, "offset", what),
                   nbytes = count_field(e, "nbytes", what);
    if (nbytes != expected)
      throw Error(ErrorCode::kCorruptFile, what + " has " + std::to_string(nbytes) + " bytes in the table but its "
                                                  "dtype and shape need " + std::to_string(expected) + " (damaged manifest?)");
    if (shard >= shards_.size() || offset > shards_[shard]->size() || nbytes > shards_[shard]->size() - offset)
      throw Error(ErrorCode::kCorruptFile, what + " points outside its shard (damaged manifest?)");
    return {size_t(shard), size_t(offset)};
  }

  std::string dir_, manifest_path_;
  Config manifest_;
  std::vector<std::shared_ptr<MappedFile>> shards_;
};

}  // namespace

std::unique_ptr<ModelSource> open_pack(const std::string& dir) { return std::make_unique<PackSource>(dir); }

}  // namespace websd
