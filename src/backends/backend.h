// The one interface every backend implements. A backend compiles a Graph into an Executable (weights prepared,
// memory planned); the caller then sets inputs, runs, and reads outputs, as often as it likes.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/graph.h"
#include "core/memory_plan.h"

namespace websd {

// The device time of one piece of a run (one GPU dispatch), for profiles (backends/profile_report.h).
struct ProfiledStep {
  std::string kernel;  // what ran: "conv2d 3x3", "attention"
  std::string shape;   // its problem: "M=320 N=8192 K=2880" for matrix products, else the output shape
  double flops = 0;    // arithmetic of the step (multiply-add = 2)
  double bytes = 0;    // bytes of its operands and result, each counted once
  double ms = 0;
};

class Executable {
 public:
  virtual ~Executable() = default;
  // Copies the caller's data into graph input `id` (its dtype and numel as the graph declares).
  virtual void set_input(TensorId id, const void* data) = 0;
  // Runs every node. If `cancel` becomes true the run stops between nodes and throws Error(kCancelled).
  virtual void run(const std::atomic<bool>* cancel = nullptr) = 0;
  // Copies a node's f32 output to dst (outputs always; other nodes only where the backend keeps them).
  virtual void read(TensorId id, float* dst) = 0;
  virtual const MemoryPlan& plan() const = 0;
  // Runs once more with every step timed on the device and returns the steps in order. Empty where the backend
  // cannot time its steps (the cpu backend reports per op through WEBSD_PROFILE instead).
  virtual std::vector<ProfiledStep> profile() { return {}; }
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;
  // What the backend chose for this machine and why ("sgemm: portable (measured: ...)"), for reports; may be "".
  virtual std::string choices() const { return ""; }
  virtual std::unique_ptr<Executable> compile(std::shared_ptr<const Graph> graph) = 0;
  // The largest tensor one kernel may bind, and the largest activation arena (WebGPU's
  // maxStorageBufferBindingSize and maxBufferSize); pipelines tile work that would exceed them.
  virtual uint64_t max_tensor_bytes() const { return UINT64_MAX; }
  virtual uint64_t max_arena_bytes() const { return UINT64_MAX; }
};

}  // namespace websd
