// Lowering: each compute node of a graph becomes one or more dispatches of a WGSL kernel, with its operands
// bound where the executable placed them.
#pragma once

#include <array>
#include <functional>
#include <vector>

#include "backends/webgpu/gpu_device.h"
#include "backends/webgpu/kernel_source.h"
#include "core/graph.h"

namespace websd::webgpu {

// Where a tensor lives on the GPU: a range of a buffer, bound as one storage binding.
struct TensorRef {
  wsd_gpu_buffer buffer = 0;
  uint64_t offset = 0, size = 0;
  DType dtype = DType::kF32;  // as the GPU holds it: F32, F16 or I32
};

struct Dispatch {
  KernelVariant variant;
  std::vector<TensorRef> bindings;  // storage bindings 1, 2, ... in the kernel's order
  std::vector<uint8_t> uniforms;    // the kernel's Params block
  std::array<uint32_t, 3> groups{1, 1, 1};
};

// The dispatches that compute `node` (one; two for concat). `where` locates any tensor of the graph.
std::vector<Dispatch> lower_node(const Graph& g, TensorId node, const std::function<TensorRef(TensorId)>& where,
                                 const Device& device);

}  // namespace websd::webgpu
