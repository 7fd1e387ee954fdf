// Where a network's weights come from. Models ask for tensors by their checkpoint name and expected shape;
// the source checks both, so a wrong file is an error that names the file and the tensor.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/graph.h"
#include "io/safetensors.h"

namespace websd {

// The weight stored as bytes [offset, offset + its size) of `file` (I8: with shape[0] f32 scales at
// scales_offset of scales_file): pointing into the mapping where files are mapped, else read by its `load`.
WeightData file_weight(std::string name, DType dtype, Shape shape, std::shared_ptr<MappedFile> file, size_t offset,
                       std::shared_ptr<MappedFile> scales_file = nullptr, size_t scales_offset = 0);

struct TensorInfo {
  std::string name;
  DType dtype;
  Shape shape;
};

class WeightSource {
 public:
  virtual ~WeightSource() = default;
  // Every stored tensor under the names models ask for (empty for sources that synthesize on request).
  virtual std::vector<TensorInfo> list() const = 0;
  // The tensor `name` with exactly `shape`, as f32/f16/bf16. Throws Error naming the file on absence, wrong shape
  // or wrong dtype.
  virtual WeightData get(const std::string& name, const Shape& shape) const = 0;
  virtual bool contains(const std::string& name) const = 0;
  virtual std::string where() const = 0;  // for messages
  // Low-rank terms to run beside the weight `name` of `shape` rather than merged into it (a LoRA applied at run
  // time, adapters/lora.h): the network adds up · (down · x) to the layer's output. Null for none; sources that
  // wrap another forward it.
  virtual std::shared_ptr<const LowRankSum> run_time_low_rank(const std::string& name, const Shape& shape) const {
    return nullptr;
  }
};

// Tensors from one or more safetensors files (a component folder, shards included).
class SafetensorsWeights final : public WeightSource {
 public:
  explicit SafetensorsWeights(std::vector<SafetensorsFile> files, std::string prefix = "");
  WeightData get(const std::string& name, const Shape& shape) const override;
  bool contains(const std::string& name) const override;
  std::string where() const override;
  std::vector<TensorInfo> list() const override;

 private:
  const TensorView* find(const std::string& name) const;
  std::vector<SafetensorsFile> files_;
  std::string prefix_;
};

// Deterministic pseudo-random f16 (or f32, or q8 where a q8 pack would quantize) weights of any requested shape,
// for benchmarks of real architectures without their files. Norm scales are 1 and biases small so activations stay in a sane range.
class RandomWeights final : public WeightSource {
 public:
  explicit RandomWeights(DType dtype = DType::kF16, uint64_t seed = 1)
      : dtype_(dtype), seed_(seed), owners_(std::make_shared<Owners>()) {}
  WeightData get(const std::string& name, const Shape& shape) const override;
  bool contains(const std::string&) const override { return true; }
  std::string where() const override { return "random weights"; }
  std::vector<TensorInfo> list() const override { return {}; }

 private:
  WeightData synthesize(const std::string& name, const Shape& shape) const;
  // One owner per tensor name for as long as these weights live, as a file is one owner: a network built again
  // (every generate() builds its UNet) finds the GPU copies of the last build in the webgpu backend's cache.
  struct Owners {
    std::mutex mu;
    std::map<std::string, std::shared_ptr<const void>> by_name;
  };
  DType dtype_;
  uint64_t seed_;
  std::shared_ptr<Owners> owners_;
};

}  // namespace websd
