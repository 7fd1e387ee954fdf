#include "backends/network_timing.h"

#include <algorithm>
#include <chrono>
#include <vector>

namespace websd {
namespace {

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

}  // namespace

NetworkTiming time_network(Backend& backend, std::shared_ptr<const Graph> g, int runs, bool warmup, bool profile) {
  auto t0 = Clock::now();
  auto exe = backend.compile(g);
  for (TensorId id : g->inputs()) {
    const Node& n = g->node(id);
    if (n.dtype == DType::kI32) {
      std::vector<int32_t> ids(size_t(n.shape.numel()), 49407);
      exe->set_input(id, ids.data());
    } else {
      std::vector<float> x(size_t(n.shape.numel()), 0.1f);
      exe->set_input(id, x.data());
    }
  }
  const TensorId y = g->outputs().front();
  std::vector<float> out(size_t(g->shape(y).numel()));
  auto run = [&] {
    exe->run();
    exe->read(y, out.data());
  };
  // Warm-up: at least one run, and on fast backends runs for a second, so that a GPU that idled while the weights
  // were synthesized has raised its clocks before the timed runs.
  NetworkTiming t;
  if (warmup) run();
  t.compile_ms = ms_since(t0);
  if (warmup)
    for (auto w0 = Clock::now(); ms_since(w0) < 1000;) run();
  std::vector<double> times;
  for (int i = 0; i < runs; ++i) {
    t0 = Clock::now();
    run();
    times.push_back(ms_since(t0));
  }
  std::sort(times.begin(), times.end());
  if (!times.empty()) {
    const size_t n = times.size();
    t.run_ms = n % 2 ? times[n / 2] : (times[n / 2 - 1] + times[n / 2]) / 2;
    t.min_ms = times.front();
    t.max_ms = times.back();
  }
  if (profile) t.profile = exe->profile();
  t.arena_bytes = exe->plan().arena_bytes;
  t.weight_bytes = g->weight_bytes();
  t.gflop = g->flops() / 1e9;
  return t;
}

}  // namespace websd
