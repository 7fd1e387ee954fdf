#include "io/pack_writer.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <vector>

#include "core/error.h"
#include "io/safetensors.h"
#include "io/safetensors_writer.h"
#include "io/sha256.h"

namespace websd {
namespace fs = std::filesystem;

const char* pack_dtype_name(PackDType t) {
  switch (t) {
    case PackDType::kF32: return "f32";
    case PackDType::kF16: return "f16";
    case PackDType::kQ8: return "q8";
  }
  return "?";
}

bool parse_pack_dtype(const std::string& s, PackDType* out) {
  for (PackDType t : {PackDType::kF32, PackDType::kF16, PackDType::kQ8})
    if (s == pack_dtype_name(t)) {
      *out = t;
      return true;
    }
  return false;
}

namespace {

const char* const kWeightComponents[] = {"text_encoder", "text_encoder_2", "unet", "vae", "controlnet"};
const char* const kTokenizerComponents[] = {"tokenizer", "tokenizer_2"};

// A tensor on its way into a shard: its bytes, and where the manifest entry will point.
struct Pending {
  std::string shard_name;  // "<component>/<tensor>" inside the shard file
  DType dtype;
  Shape shape;
  std::vector<uint8_t> bytes;
  nlohmann::json* entry;   // the manifest object to fill with shard, offset, nbytes
};

class ShardWriter {
 public:
  ShardWriter(std::string dir, nlohmann::json& shards, std::function<void(int, uint64_t)> on_shard)
      : dir_(std::move(dir)), shards_(shards), on_shard_(std::move(on_shard)) {}

  void add(Pending p) {
    if (!pending_.empty() && bytes_ + p.bytes.size() > kMaxShardBytes) flush();
    bytes_ += p.bytes.size();
    pending_.push_back(std::move(p));
  }

  // Writes the pending tensors as one safetensors shard, then reads the file back for the exact offsets.
  void flush() {
    if (pending_.empty()) return;
    const int index = int(shards_.size());
    char name[32];
    std::snprintf(name, sizeof name, "shard-%05d.safetensors", index);
    const std::string path = dir_ + "/" + name;
    std::vector<TensorToWrite> tensors;
    for (const auto& p : pending_) tensors.push_back({p.shard_name, p.dtype, p.shape, p.bytes.data()});
    write_safetensors(path, tensors, {{"format", kPackFormat}});
    auto file = SafetensorsFile::open(path);
    for (auto& p : pending_) {
      const TensorView& t = file.get(p.shard_name);
      (*p.entry)["shard"] = index;
      (*p.entry)["offset"] = t.offset;
      (*p.entry)["nbytes"] = t.nbytes;
    }
    const uint64_t size = fs::file_size(path);
    shards_.push_back({{"file", name}, {"bytes", size}, {"sha256", sha256_file_hex(path)}});
    if (size > kMaxShardBytes)
      std::fprintf(stderr, "websd convert: %s holds a single tensor of %.0f MiB, above the %llu MiB shard size\n",
                   name, double(size) / (1 << 20), static_cast<unsigned long long>(kMaxShardBytes >> 20));
    if (on_shard_) on_shard_(index, size);
    pending_.clear();
    bytes_ = 0;
  }

 private:
  std::string dir_;
  nlohmann::json& shards_;
  std::function<void(int, uint64_t)> on_shard_;
  std::vector<Pending> pending_;
  uint64_t bytes_ = 0;
};

std::vector<uint8_t> as_bytes(const float* v, size_t n) {
  std::vector<uint8_t> b(n * sizeof(float));
  std::memcpy(b.data(), v, b.size());
  return b;
}

std::vector<uint8_t> to_f16(const WeightData& w, const std::vector<float>& f) {
  std::vector<uint8_t> b(f.size() * 2);
  if (w.dtype == DType::kF16) {
    std::memcpy(b.data(), w.data, b.size());  // exact: no round trip through f32
    return b;
  }
  uint16_t* h = reinterpret_cast<uint16_t*>(b.data());
  for (size_t i = 0; i < f.size(); ++i) h[i] = f32_to_f16(f[i]);
  return b;
}

nlohmann::json file_entry(const std::string& path) {
  return {{"bytes", fs::file_size(path)}, {"sha256", sha256_file_hex(path)}};
}

}  // namespace

PackReport write_pack(const ModelSource& source, const std::string& outdir, PackDType dtype,
                      const std::function<void(int, uint64_t)>& on_shard) {
  std::error_code ec;
  fs::create_directories(outdir, ec);
  if (ec) throw Error(ErrorCode::kNotFound, outdir + ": cannot create the output folder (" + ec.message() + ")");
  for (const auto& e : fs::directory_iterator(outdir))  // stale shards of an earlier conversion
    if (e.path().filename().string().starts_with("shard-")) fs::remove(e.path());

  nlohmann::json manifest = {{"format", kPackFormat},
                             {"version", kPackVersion},
                             {"dtype", pack_dtype_name(dtype)},
                             {"pipeline", source.pipeline_config().json()},
                             {"components", nlohmann::json::object()},
                             {"shards", nlohmann::json::array()}};
  nlohmann::json& components = manifest["components"];
  PackReport report;
  ShardWriter shards(outdir, manifest["shards"], on_shard);

  for (const char* c : kWeightComponents) {
    if (!source.has_component(c)) continue;
    nlohmann::json& comp = components[c];
    comp["config"] = source.config(c).json();
    comp["tensors"] = nlohmann::json::object();
    auto weights = source.weights(c);
    auto list = weights->list();
    std::sort(list.begin(), list.end(), [](const TensorInfo& a, const TensorInfo& b) { return a.name < b.name; });
    PackReport::Component& rep = report.components[c];
    for (const TensorInfo& t : list) {
      if (t.dtype != DType::kF32 && t.dtype != DType::kF16 && t.dtype != DType::kBF16 && t.dtype != DType::kI8)
        continue;  // bookkeeping tensors such as position_ids: no network reads them
      const WeightData w = resident(weights->get(t.name, t.shape));
      std::vector<float> f(size_t(t.shape.numel()));
      expand_weight(w, 0, f.size(), f.data());
      rep.source_bytes += uint64_t(t.shape.numel()) * dtype_size(t.dtype);
      rep.tensors++;
      nlohmann::json& entry = comp["tensors"][t.name];
      entry["shape"] = t.shape.dims;
      const std::string shard_name = std::string(c) + "/" + t.name;
      if (dtype == PackDType::kQ8 && q8_quantizable(t.name, t.shape)) {
        std::vector<uint8_t> q;
        std::vector<float> scales;
        quantize_q8(f, t.shape[0], q, scales);
        entry["dtype"] = "I8";
        entry["scales"] = nlohmann::json::object();
        rep.pack_bytes += q.size() + scales.size() * sizeof(float);
        rep.quantized++;
        shards.add({shard_name, DType::kI8, t.shape, std::move(q), &entry});
        shards.add({shard_name + "#scales", DType::kF32, Shape{t.shape[0]}, as_bytes(scales.data(), scales.size()),
                    &entry["scales"]});
        continue;
      }
      const bool f32 = dtype == PackDType::kF32;
      entry["dtype"] = f32 ? "F32" : "F16";
      std::vector<uint8_t> bytes = f32 ? as_bytes(f.data(), f.size()) : to_f16(w, f);
      rep.pack_bytes += bytes.size();
      shards.add({shard_name, f32 ? DType::kF32 : DType::kF16, t.shape, std::move(bytes), &entry});
    }
  }
  shards.flush();

  for (const char* c : {"scheduler"})
    if (source.has_component(c)) components[c]["config"] = source.config(c).json();
  for (const char* c : kTokenizerComponents) {
    if (!source.has_component(c)) continue;
    const fs::path from = source.tokenizer_dir(c), to = fs::path(outdir) / c;
    fs::create_directories(to);
    nlohmann::json files = nlohmann::json::object();
    for (const auto& e : fs::directory_iterator(from)) {
      if (!e.is_regular_file()) continue;
      fs::copy_file(e.path(), to / e.path().filename(), fs::copy_options::overwrite_existing);
      files[e.path().filename().string()] = file_entry((to / e.path().filename()).string());
    }
    components[c]["files"] = files;
  }

  report.shards = int(manifest["shards"].size());
  for (const auto& s : manifest["shards"]) report.total_bytes += s["bytes"].get<uint64_t>();
  const std::string tmp = outdir + "/" + kPackManifest + ".partial";
  std::ofstream(tmp) << manifest.dump(1) << "\n";
  fs::rename(tmp, outdir + "/" + kPackManifest);
  return report;
}

void verify_pack(const std::string& dir) {
  const Config m = Config::load(dir + "/" + kPackManifest);
  auto check = [&](const std::string& rel, const nlohmann::json& want) {
    const std::string path = dir + "/" + rel;
    if (!fs::exists(path)) throw Error(ErrorCode::kNotFound, path + ": missing from the pack (re-download it)");
    if (fs::file_size(path) != want["bytes"].get<uint64_t>() || sha256_file_hex(path) != want["sha256"])
      throw Error(ErrorCode::kCorruptFile, path + ": contents differ from the manifest's sha256 (re-download it)");
  };
  for (const auto& s : m.json()["shards"]) check(s["file"].get<std::string>(), s);
  for (const auto& [c, comp] : m.json()["components"].items())
    if (comp.contains("files"))
      for (const auto& [f, want] : comp["files"].items()) check(c + "/" + f, want);
}

}  // namespace websd
