// Per-adapter kernel tuning: which variant of each kernel family (kernel_choice.h) runs a problem fastest on one
// GPU, as measured there by the tuner (tuner.h). GPUs differ (subgroup sizes, cache sizes, how many workgroups
// hide the loads' latency), so the built-in rules of lowering.cpp, which come from the H200, are only the safe
// default: where a table for the device's adapter holds a problem, its choice is used instead.
//
// A problem is a node's op and shapes ("linear M=8192 N=320 K=320", " q8" after a q8 weight's), as cuDNN's
// benchmark mode keys them: the same network at another size is other problems, which keep the rules until they
// are tuned too.
#pragma once

#include <map>
#include <string>

#include "backends/webgpu/gpu_seam.h"
#include "backends/webgpu/kernel_choice.h"
#include "core/graph.h"

namespace websd::webgpu {

// Tables made for other kernels are refused: raise it whenever a variant number comes to mean another kernel.
constexpr int kTuningVersion = 1;

struct TunedProblem {
  std::string choice;  // kernel_choice.h syntax; "" = the built-in rules won
  double ms = 0;       // the choice's median GPU time when it was measured
  double auto_ms = 0;  // the built-in rules' time in the same measurement
  int count = 0;       // how often the problem occurred in the networks tuned
};

struct TuningTable {
  std::string adapter;  // wsd_gpu_info::description of the GPU it was measured on
  std::map<std::string, TunedProblem> problems;

  // {"format": "websd-webgpu-tuning", "version": 1, "adapter": "...", "problems": {key: {choice, ms, auto_ms,
  // count}}}. Throws Error(kInvalidArgument) for anything else, saying what is wrong; every choice is checked.
  static TuningTable from_json(const std::string& text);
  std::string to_json() const;
  // Adds (or replaces) the problems of `other`, which must be for the same adapter.
  void merge(const TuningTable& other);
};

// The table the lowering consults (an empty one: the rules everywhere). Not thread-safe against a compile
// running at the same time; the engines set it between jobs.
void set_tuning(TuningTable table);
const TuningTable& tuning();

// The node's problem key, or "" for ops nothing is tuned for.
std::string problem_key(const Graph& g, const Node& n);

// The kernel choice for a node on a device: the forced families (set_kernel_choice) first, then the table's
// choice for its problem where the table is for this adapter, the rest automatic.
KernelChoice choice_for(const Graph& g, const Node& n, const wsd_gpu_info& info);

}  // namespace websd::webgpu
