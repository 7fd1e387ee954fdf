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

// How a weight is laid out on the GPU: as stored ([N, K] row-major, q8 with its header), K-major for the GEMM
// core (wᵀ [K, N4], N padded to a multiple of 4; webgpu_backend.cpp, upload_kn), or a 3×3 convolution weight
// transformed for Winograd F(2×2, 3×3) (U [16 · C, O4]; upload_winograd).
enum class WeightLayout { kAsStored, kKMajor, kWinograd };
constexpr size_t kWeightLayouts = 3;

// Where the lowering finds a node's operands: any tensor of the graph (weights in the layout asked for), and the
// node's scratch (as many bytes as scratch_bytes said).
struct Locator {
  std::function<TensorRef(TensorId, WeightLayout)> tensor;
  std::function<TensorRef(TensorId)> scratch;
};

struct Dispatch {
  KernelVariant variant;
  std::vector<TensorRef> bindings;  // storage bindings 1, 2, ... in the kernel's order
  std::vector<uint8_t> uniforms;    // the kernel's Params block
  std::array<uint32_t, 3> groups{1, 1, 1};
  // For profiles: what ran ("conv2d 3x3"), its problem size, and its share of the node's arithmetic (counted as
  // the op's own flops, so that a Winograd convolution shows the rate a direct one would need to match it).
  std::string label, shape;
  double flops = 0;
};

// Flat kernels (kernels/common.wgsl, flat_index) run 256-thread workgroups: the workgroups for `threads` threads,
// folded into a 2D grid (a dimension holds at most maxComputeWorkgroupsPerDimension); the kernels mask the excess.
constexpr uint32_t kFlatWorkgroup = 256;
std::array<uint32_t, 3> flat_grid(uint64_t threads, uint32_t per_group, const wsd_gpu_info& info);

// The dispatches that compute `node` (one; two for concat). `where` locates any tensor of the graph (weights in
// the layout asked for).
std::vector<Dispatch> lower_node(const Graph& g, TensorId node, const Locator& where, const Device& device);

// Whether a node could run as Winograd F(2×2, 3×3): a 3×3, stride-1, padding-1 convolution of a stored f32 or f16
// weight (the rules or a tuned choice then say whether it does).
bool winograd_applies(const Graph& g, const Node& n);

// The scratch bytes the dispatches of `node` need while it runs (planned with the activations).
size_t scratch_bytes(const Graph& g, const Node& node, const wsd_gpu_info& info);

}  // namespace websd::webgpu
