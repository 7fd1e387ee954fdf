#include "core/memory_plan.h"

#include <algorithm>

namespace websd {
namespace {

struct Buffer {
  size_t size;
  int first, last;  // inclusive node indices during which the bytes must stay intact
  int node;
  bool scratch;
  int64_t offset = -1;
};

}  // namespace

MemoryPlan plan_memory(const Graph& g, const std::function<size_t(const Node&)>& scratch) {
  const auto& nodes = g.nodes();
  const int n = int(nodes.size());
  std::vector<int> last_use(size_t(n), -1);
  for (int i = 0; i < n; ++i)
    for (TensorId t : nodes[size_t(i)].inputs) last_use[size_t(t)] = std::max(last_use[size_t(t)], i);
  for (TensorId t : g.outputs()) last_use[size_t(t)] = n;  // outputs survive the run
  // Inputs survive it too, so that a graph can run again on the inputs it was given (a benchmark, or a UNet
  // whose context stays the same over all steps); they are small next to the activations.
  for (TensorId t : g.inputs()) last_use[size_t(t)] = n;

  std::vector<Buffer> buffers;
  for (int i = 0; i < n; ++i) {
    const Node& node = nodes[size_t(i)];
    if (node.op == Op::kWeight) continue;
    size_t bytes = MemoryPlan::align_up(size_t(node.shape.numel()) * dtype_size(node.dtype));
    // Inputs are written before the run starts, so they are alive from the first node on.
    int first = node.op == Op::kInput ? 0 : i;
    buffers.push_back({bytes, first, std::max(last_use[size_t(i)], i), i, false});
    if (size_t s = scratch(node); s > 0) buffers.push_back({MemoryPlan::align_up(s), i, i, i, true});
  }

  MemoryPlan plan;
  plan.offset.assign(size_t(n), -1);
  plan.scratch_offset.assign(size_t(n), -1);
  plan.scratch_size.assign(size_t(n), 0);
  for (const Buffer& b : buffers) plan.unplanned_bytes += b.size;

  // Greedy by size (largest first), each placed in the lowest gap among the already placed buffers whose
  // lifetimes overlap its own. Simple and within a few percent of optimal on UNet-shaped graphs.
  std::vector<Buffer*> order;
  for (Buffer& b : buffers) order.push_back(&b);
  std::stable_sort(order.begin(), order.end(), [](const Buffer* a, const Buffer* b) { return a->size > b->size; });
  std::vector<Buffer*> placed;
  std::vector<std::pair<int64_t, int64_t>> busy;
  for (Buffer* b : order) {
    busy.clear();
    for (Buffer* p : placed)
      if (p->first <= b->last && b->first <= p->last) busy.emplace_back(p->offset, p->offset + int64_t(p->size));
    std::sort(busy.begin(), busy.end());
    int64_t candidate = 0;
    for (auto [lo, hi] : busy) {
      if (lo - candidate >= int64_t(b->size)) break;
      candidate = std::max(candidate, hi);
    }
    b->offset = candidate;
    placed.push_back(b);
    plan.arena_bytes = std::max(plan.arena_bytes, size_t(candidate) + b->size);
  }
  for (const Buffer& b : buffers) {
    if (b.scratch) {
      plan.scratch_offset[size_t(b.node)] = b.offset;
      plan.scratch_size[size_t(b.node)] = b.size;
    } else {
      plan.offset[size_t(b.node)] = b.offset;
    }
  }
  return plan;
}

}  // namespace websd
