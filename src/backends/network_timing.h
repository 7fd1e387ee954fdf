// Timing one network on a backend, for the benchmarks (`websd bench` natively, websd_wasm_bench in the wasm
// build): the same measurement everywhere.
#pragma once

#include <memory>
#include <vector>

#include "backends/backend.h"

namespace websd {

struct NetworkTiming {
  double compile_ms = 0;  // compile (weight upload included) and, with a warm-up, the first run
  double run_ms = 0;      // median of the timed runs, each ending with a read of the first output (GPU work done)
  double min_ms = 0, max_ms = 0;
  size_t arena_bytes = 0;
  uint64_t weight_bytes = 0;
  double gflop = 0;
  std::vector<ProfiledStep> profile;  // with `profile`: every step's device time in one more run
};

// Compiles `g`, fills its inputs with constants (token ids with the end-of-text id), optionally warms up (runs
// for a second, at least once, untimed: pipelines, caches, GPU clocks), then times `runs` runs, and with `profile` runs once more with every step timed on
// the device (Executable::profile). The executable and its arena are freed before returning.
NetworkTiming time_network(Backend& backend, std::shared_ptr<const Graph> g, int runs, bool warmup,
                           bool profile = false);

}  // namespace websd
