#include "io/weight_source.h"

#include <cmath>

#include "core/error.h"
#include "io/pack.h"

namespace websd {

WeightData file_weight(std::string name, DType dtype, Shape shape, std::shared_ptr<MappedFile> file, size_t offset,
                       std::shared_ptr<MappedFile> scales_file, size_t scales_offset) {
  WeightData w{std::move(name), dtype, std::move(shape)};
  const bool scaled = scales_file != nullptr;
  if (file->data() && (!scaled || scales_file->data())) {
    w.data = file->data() + offset;
    if (scaled) w.scales = reinterpret_cast<const float*>(scales_file->data() + scales_offset);
    w.owner = scaled && scales_file != file
                  ? std::shared_ptr<const void>(std::make_shared<std::pair<std::shared_ptr<MappedFile>,
                                                                           std::shared_ptr<MappedFile>>>(file, scales_file))
                  : std::shared_ptr<const void>(std::move(file));
    return w;
  }
  w.owner = file;
  const size_t nbytes = size_t(w.shape.numel()) * dtype_size(w.dtype);
  const size_t scales_at = (nbytes + 15) & ~size_t(15);  // floats after the values, aligned
  const size_t rows = scaled ? size_t(w.shape[0]) : 0;
  WeightData meta = w;
  w.load = [meta, file, offset, nbytes, scales_file, scales_offset, scales_at, rows] {
    auto bytes = std::make_shared<std::vector<uint8_t>>(scales_at + rows * sizeof(float));
    file->read(offset, nbytes, bytes->data());
    WeightData r = meta;
    if (rows) {
      scales_file->read(scales_offset, rows * sizeof(float), bytes->data() + scales_at);
      r.scales = reinterpret_cast<const float*>(bytes->data() + scales_at);
    }
    r.data = bytes->data();
    r.owner = std::move(bytes);
    return r;
  };
  return w;
}

SafetensorsWeights::SafetensorsWeights(std::vector<SafetensorsFile> files, std::string prefix)
    : files_(std::move(files)), prefix_(std::move(prefix)) {}

const TensorView* SafetensorsWeights::find(const std::string& name) const {
  // The prefix applies to most tensors but not all (CLIP's text_projection sits outside text_model.).
  for (const auto& f : files_) {
    if (!prefix_.empty() && f.contains(prefix_ + name)) return &f.get(prefix_ + name);
    if (f.contains(name)) return &f.get(name);
  }
  return nullptr;
}

bool SafetensorsWeights::contains(const std::string& name) const { return find(name) != nullptr; }

std::vector<TensorInfo> SafetensorsWeights::list() const {
  std::vector<TensorInfo> out;
  for (const auto& f : files_)
    for (const auto& [name, t] : f.tensors()) {
      const bool prefixed = !prefix_.empty() && name.starts_with(prefix_);
      out.push_back({prefixed ? name.substr(prefix_.size()) : name, t.dtype, t.shape});
    }
  return out;
}

std::string SafetensorsWeights::where() const {
  std::string s;
  for (const auto& f : files_) s += (s.empty() ? "" : ", ") + f.path();
  return s;
}

WeightData SafetensorsWeights::get(const std::string& name, const Shape& shape) const {
  const TensorView* t = find(name);
  if (!t)
    throw Error(ErrorCode::kNotFound,
                where() + ": tensor '" + prefix_ + name + "' is missing (wrong model type, or an incomplete file?)");
  if (t->dtype != DType::kF32 && t->dtype != DType::kF16 && t->dtype != DType::kBF16)
    throw Error(ErrorCode::kShapeMismatch, where() + ": tensor '" + t->name + "' has dtype " + dtype_name(t->dtype) +
                                               "; weights must be F32, F16 or BF16");
  if (t->shape != shape)
    throw Error(ErrorCode::kShapeMismatch, where() + ": tensor '" + t->name + "' has shape " + t->shape.str() +
                                               " but the config describes " + shape.str() +
                                               " (config.json and weights do not belong together?)");
  return file_weight(t->name, t->dtype, t->shape, t->owner, t->offset);
}

WeightData RandomWeights::get(const std::string& name, const Shape& shape) const {
  // Made when a backend asks (and dropped after a GPU upload), so that a whole architecture never sits in memory.
  WeightData w{name, dtype_, shape};
  {
    std::lock_guard<std::mutex> lock(owners_->mu);
    std::shared_ptr<const void>& owner = owners_->by_name[name + " " + shape.str()];
    if (!owner) owner = std::make_shared<int>(0);
    w.owner = owner;  // identifies this tensor for caches
  }
  const RandomWeights self = *this;
  w.load = [self, name, shape] { return self.synthesize(name, shape); };
  return w;
}

WeightData RandomWeights::synthesize(const std::string& name, const Shape& shape) const {
  const size_t n = size_t(shape.numel());
  const bool is_norm_scale = name.find("norm") != std::string::npos && name.ends_with(".weight");
  const bool is_bias = name.ends_with(".bias");
  const double fan_in = shape.rank() >= 2 ? double(shape.numel() / shape[0]) : 1.0;
  const float amp = is_bias ? 0.01f : float(std::sqrt(3.0 / fan_in));  // uniform with variance 1/fan_in
  uint64_t state = seed_ ^ std::hash<std::string>{}(name);
  auto next = [&state] {  // splitmix64: fast and good enough for weights nobody looks at
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  };
  auto value = [&]() -> float {
    if (is_norm_scale) return 1.0f;
    return amp * (float(next() >> 40) * (2.0f / 16777216.0f) - 1.0f);
  };
  if (dtype_ == DType::kI8 && q8_quantizable(name, shape)) {  // as `websd convert --dtype q8` stores them
    struct Q8 {
      std::vector<int8_t> q;
      std::vector<float> scales;
    };
    auto buf = std::make_shared<Q8>();
    buf->q.resize(n);
    for (auto& v : buf->q) v = int8_t(int(next() % 255) - 127);
    buf->scales.assign(size_t(shape[0]), amp / 127.0f);
    WeightData w{name, DType::kI8, shape, buf->q.data(), buf};
    w.scales = buf->scales.data();
    return w;
  }
  if (dtype_ == DType::kF32) {
    auto buf = std::make_shared<std::vector<float>>(n);
    for (auto& v : *buf) v = value();
    return WeightData{name, DType::kF32, shape, buf->data(), buf};
  }
  auto buf = std::make_shared<std::vector<uint16_t>>(n);
  for (auto& v : *buf) v = f32_to_f16(value());
  return WeightData{name, DType::kF16, shape, buf->data(), buf};
}

}  // namespace websd
