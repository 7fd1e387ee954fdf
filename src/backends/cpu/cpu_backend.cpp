#include "backends/cpu/cpu_backend.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <cstring>
#include <new>

#ifdef __EMSCRIPTEN__
#include <emscripten/heap.h>
#else
#include <unistd.h>
#endif

#include "backends/cpu/kernel_args.h"
#include "core/error.h"
#include "core/thread_pool.h"

namespace websd {
namespace {

// WEBSD_PROFILE=1 prints where each run spent its time, by op; WEBSD_PROFILE=2 also every node over 1 ms.
struct OpProfile {
  int level = std::getenv("WEBSD_PROFILE") ? std::atoi(std::getenv("WEBSD_PROFILE")) : 0;
  bool enabled = level > 0;
  struct Entry {
    double ms = 0, flops = 0;
    int calls = 0;
  };
  std::map<Op, Entry> by_op;

  void add(const Graph& g, const Node& n, std::chrono::steady_clock::time_point t0) {
    auto& e = by_op[n.op];
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (level >= 2 && ms > 1.0) {
      std::string in;
      for (TensorId t : n.inputs) in += g.shape(t).str() + " ";
      std::fprintf(stderr, "  %-12s %9.2f ms  %s-> %s\n", op_name(n.op), ms, in.c_str(), n.shape.str().c_str());
    }
    e.ms += ms;
    e.flops += g.node_flops(n);
    e.calls++;
  }
  void print(const Graph& g) const {
    std::vector<std::pair<double, Op>> rows;
    double total = 0;
    for (const auto& [op, e] : by_op) {
      rows.emplace_back(e.ms, op);
      total += e.ms;
    }
    std::sort(rows.rbegin(), rows.rend());
    std::fprintf(stderr, "cpu profile (%zu nodes, %.1f ms):\n", g.nodes().size(), total);
    for (const auto& [ms, op] : rows) {
      const Entry& e = by_op.at(op);
      std::fprintf(stderr, "  %-12s %5d calls %10.1f ms %5.1f%%", op_name(op), e.calls, ms, 100.0 * ms / total);
      if (e.flops > 0) std::fprintf(stderr, " %8.1f GFLOP %7.1f GFLOP/s", e.flops / 1e9, e.flops / 1e6 / ms);
      std::fprintf(stderr, "\n");
    }
  }
};

struct AlignedFree {
  void operator()(void* p) const { std::free(p); }
};

class CpuExecutable final : public Executable {
 public:
  CpuExecutable(std::shared_ptr<const Graph> g, std::shared_ptr<ThreadPool> pool, bool reference, bool blas,
                cpu::FastChoice choice)
      : g_(std::move(g)), pool_(std::move(pool)), gemm_(*pool_, blas), reference_(reference), choice_(choice) {
    // The cpu kernels read weights in place: bring in those that are not resident, for as long as this lives.
    weights_.reserve(g_->weights().size());
    for (const WeightData& w : g_->weights()) weights_.push_back(resident(w));
    plan_ = plan_memory(*g_, [this](const Node& n) { return reference_ ? 0 : cpu::fast_scratch_bytes(*g_, n, pool_->size(), choice_); });
    void* p = std::aligned_alloc(MemoryPlan::kAlignment, std::max<size_t>(plan_.arena_bytes, MemoryPlan::kAlignment));
    if (!p)
      throw Error(ErrorCode::kOutOfMemory, "cpu backend: cannot allocate the " +
                                               std::to_string(plan_.arena_bytes >> 20) + " MiB activation arena");
    arena_.reset(static_cast<uint8_t*>(p));
  }

  void set_input(TensorId id, const void* data) override {
    const Node& n = g_->node(id);
    if (n.op != Op::kInput) throw Error(ErrorCode::kInvalidArgument, "set_input on a node that is not an input");
    std::memcpy(ptr(id), data, size_t(n.shape.numel()) * dtype_size(n.dtype));
  }

  void run(const std::atomic<bool>* cancel) override {
    const auto& nodes = g_->nodes();
    OpProfile profile;
    for (size_t i = 0; i < nodes.size(); ++i) {
      const Node& n = nodes[i];
      if (n.op == Op::kInput || n.op == Op::kWeight) continue;
      if (cancel && cancel->load(std::memory_order_relaxed)) throw Error(ErrorCode::kCancelled, "run cancelled");
      cpu::KernelArgs args{*g_, weights_, n, {}, ptr(TensorId(i)), nullptr, *pool_, gemm_, choice_};
      for (TensorId t : n.inputs) args.in.push_back(ptr(t));
      if (plan_.scratch_offset[i] >= 0) args.scratch = arena_.get() + plan_.scratch_offset[i];
      auto t0 = std::chrono::steady_clock::now();
      if (reference_ || !cpu::run_fast(args)) cpu::run_reference(args);
      if (profile.enabled) profile.add(*g_, n, t0);
    }
    if (profile.enabled) profile.print(*g_);
  }

  void read(TensorId id, float* dst) override {
    const Node& n = g_->node(id);
    std::memcpy(dst, ptr(id), size_t(n.shape.numel()) * sizeof(float));
  }

  const MemoryPlan& plan() const override { return plan_; }

 private:
  void* ptr(TensorId t) {
    const Node& n = g_->node(t);
    if (n.op == Op::kWeight) return const_cast<void*>(weights_[size_t(n.weight)].data);
    return arena_.get() + plan_.offset[size_t(t)];
  }

  std::shared_ptr<const Graph> g_;
  std::vector<WeightData> weights_;  // g_->weights(), resident
  std::shared_ptr<ThreadPool> pool_;
  cpu::Gemm gemm_;
  bool reference_;
  cpu::FastChoice choice_;
  MemoryPlan plan_;
  std::unique_ptr<uint8_t, AlignedFree> arena_;
};

class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(const CpuOptions& o)
      : pool_(std::make_shared<ThreadPool>(o.threads)),
        reference_(o.reference),
        sgemm_(o.reference ? cpu::SgemmChoice{false, "reference kernels"} : cpu::choose_sgemm(*pool_, o.sgemm)),
        choice_{o.winograd, sgemm_.blas, o.winograd_band_rows} {}
  std::string name() const override {
    return reference_ ? "cpu-reference" : std::string("cpu (sgemm: ") + cpu::Gemm(*pool_, sgemm_.blas).name() + ")";
  }
  std::string choices() const override {
    return reference_ ? "" : std::string("sgemm: ") + cpu::Gemm(*pool_, sgemm_.blas).name() + " (" + sgemm_.why + ")";
  }
  std::unique_ptr<Executable> compile(std::shared_ptr<const Graph> graph) override {
    return std::make_unique<CpuExecutable>(std::move(graph), pool_, reference_, sgemm_.blas, choice_);
  }
  // An arena larger than the memory there is would only page or fail late: the machine's physical memory natively,
  // the most the wasm heap may grow to in a browser.
  uint64_t max_arena_bytes() const override {
#ifdef __EMSCRIPTEN__
    return uint64_t(emscripten_get_heap_max());
#else
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
    return pages > 0 && page > 0 ? uint64_t(pages) * uint64_t(page) : UINT64_MAX;
#endif
  }

 private:
  std::shared_ptr<ThreadPool> pool_;
  bool reference_;
  cpu::SgemmChoice sgemm_;
  cpu::FastChoice choice_;
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend(const CpuOptions& options) { return std::make_unique<CpuBackend>(options); }

}  // namespace websd
