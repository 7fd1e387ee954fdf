// A weight that is a stored one plus a low-rank product, W' = W + up · down: a set of LoRAs merged into W (their
// ranks stacked, their scales folded into `up`). Described rather than computed, so that each backend computes it
// where W already lives: the cpu backend on the host, the webgpu backend on the GPU from W's GPU copy (switching
// LoRAs then uploads only the small factors, never the merged weights).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/graph.h"

namespace websd {

struct LowRankSum {
  WeightData base;          // W [N, K...]
  int64_t rank = 0;         // R
  std::vector<float> up;    // [N, R]
  std::vector<float> down;  // [R, K], K = the elements of one output row of W
};

// W' of `dtype` (F32; F16 rounded once; I8 re-quantised per row like a q8 pack), named `name`, with `low_rank`
// set. Not resident: resident() computes it on the host on first use (delta first, then added to W, in f32) and
// keeps it while the returned weight's owner lives; that owner also identifies W' in the webgpu weight cache.
WeightData low_rank_sum(std::string name, std::shared_ptr<const LowRankSum> sum, DType dtype);

}  // namespace websd
