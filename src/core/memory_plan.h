// Static memory planning: every graph input, intermediate, output and per-op scratch buffer gets a fixed offset
// in one arena, chosen by lifetime so that buffers which are never alive together share bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "core/graph.h"

namespace websd {

struct MemoryPlan {
  static constexpr size_t kAlignment = 256;  // also satisfies WebGPU's minStorageBufferOffsetAlignment
  static constexpr size_t align_up(size_t n) { return (n + kAlignment - 1) / kAlignment * kAlignment; }
  std::vector<int64_t> offset;          // per node: byte offset of its output in the arena; -1 for weights
  std::vector<int64_t> scratch_offset;  // per node: byte offset of its scratch; -1 if none
  std::vector<size_t> scratch_size;
  size_t arena_bytes = 0;               // the planned peak
  size_t unplanned_bytes = 0;           // what a naive allocator (every buffer separate) would need
};

// scratch(node) returns the bytes a backend's kernel needs while the node runs (0 if none).
MemoryPlan plan_memory(const Graph& g, const std::function<size_t(const Node&)>& scratch);

}  // namespace websd
