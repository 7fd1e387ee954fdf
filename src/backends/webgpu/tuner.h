// The tuner: a short pass that times the candidate kernel variants of every distinct problem of some networks on
// this device and keeps the fastest (tuning.h). Each problem runs as a graph of its one node, with random inputs
// and weights of the node's own dtypes; a candidate counts only if its output agrees with the built-in rules'
// (so a variant a driver miscompiles is never chosen), and it replaces the rules only where it is clearly faster.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "backends/webgpu/tuning.h"

namespace websd::webgpu {

struct TuneOptions {
  int runs = 3;        // timed runs per candidate (the median counts), after warm-up runs
  std::string filter;  // only problems whose key contains this ("" = all)
  // After each problem: problems done, problems in all. Return false to stop (Error(kCancelled)).
  std::function<bool(int done, int total)> progress;
};

struct TuneResult {
  TuningTable table;   // the problems measured (merge it into a stored table)
  int candidates = 0;  // candidates timed
  double seconds = 0;  // wall time of the pass
  // Sums over the problems, each weighted by how often it occurs: GPU ms under the built-in rules and under the
  // table (what one run of the networks would gain, if each problem ran as it did alone).
  double auto_ms = 0, tuned_ms = 0;
};

// The candidates the tuner times for a node ("" = the built-in rules, always first); none for ops nothing is
// tuned for. Fewer on software adapters, whose every candidate takes long and where barriers cost most.
std::vector<std::string> tuning_candidates(const Graph& g, const Node& n, bool software);

// Tunes every distinct problem of `graphs` on `gpu` (a webgpu backend). Leaves the forced choice and the table
// the lowering uses as they were.
TuneResult tune(Backend& gpu, const std::vector<std::shared_ptr<const Graph>>& graphs, const TuneOptions& options);

}  // namespace websd::webgpu
