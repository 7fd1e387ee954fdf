#include "backends/webgpu/tuner.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <random>

#include "backends/webgpu/gpu_device.h"
#include "backends/webgpu/lowering.h"
#include "core/error.h"
#include "io/weight_source.h"

namespace websd::webgpu {
namespace {

// A candidate replaces the rules only when it is this much faster: below it, timing noise decides.
constexpr double kMinGain = 0.03;
// Problems whose rules take less GPU time than this in all their occurrences keep the rules untimed further:
// nothing they could gain is worth their share of the pass.
constexpr double kMinWorthMs = 0.03;
// Outputs of two variants differ only in the order of f32 sums (and Winograd's one more rounding of f16 weights).
constexpr double kMaxDisagreement = 1e-5;

// The node alone in a graph of its own: its inputs as graph inputs, its weights synthesized in their dtypes.
std::shared_ptr<Graph> alone(const Graph& g, const Node& n, const RandomWeights& f16, const RandomWeights& f32,
                             const RandomWeights& i8) {
  auto one = std::make_shared<Graph>();
  std::vector<TensorId> inputs;
  for (size_t i = 0; i < n.inputs.size(); ++i) {
    const Node& in = g.node(n.inputs[i]);
    const std::string name = "in" + std::to_string(i);
    if (in.op == Op::kWeight) {
      const DType dt = g.weights()[size_t(in.weight)].dtype;
      const RandomWeights& w = dt == DType::kI8 ? i8 : dt == DType::kF32 ? f32 : f16;
      inputs.push_back(one->weight(w.get(name + (i == 2 ? ".bias" : ".weight"), in.shape)));
    } else {
      inputs.push_back(one->input(name, in.shape, in.dtype));
    }
  }
  one->mark_output(one->add_node(n.op, inputs, n.shape, n.p), "y");
  return one;
}

void fill_inputs(Executable& exe, const Graph& g) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (TensorId id : g.inputs()) {
    std::vector<float> x(size_t(g.shape(id).numel()));
    for (float& v : x) v = u(rng);
    exe.set_input(id, x.data());
  }
}

std::vector<float> output(Executable& exe, const Graph& g) {
  std::vector<float> y(size_t(g.shape(g.outputs()[0]).numel()));
  exe.read(g.outputs()[0], y.data());
  return y;
}

double disagreement(const std::vector<float>& a, const std::vector<float>& b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    num += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
    den += double(b[i]) * b[i];
  }
  return den > 0 ? num / den : num;
}

// Median GPU ms of `runs` runs: timestamp queries where the device has them, else wall time of a run and a
// read-back. Each timed run follows queued untimed ones worth about kBusyMs of work, so that the GPU is busy and at
// its clocks when it is timed: timed from idle, small kernels measured up to several times slower, and whichever
// candidate came first after a pause lost.
constexpr double kBusyMs = 2.0;
double median_ms(Executable& exe, const Graph& g, int runs) {
  exe.run();
  const std::vector<ProfiledStep> probe = exe.profile();
  const bool timed = !probe.empty();
  double estimate = 0;
  for (const ProfiledStep& s : probe) estimate += s.ms;
  const int busy = timed ? int(std::clamp(std::ceil(kBusyMs / std::max(estimate, 1e-3)), 1.0, 64.0)) : 1;
  std::vector<double> t;
  for (int r = 0; r < runs; ++r) {
    for (int i = 0; i < busy; ++i) exe.run();
    if (timed) {
      double ms = 0;
      for (const ProfiledStep& s : exe.profile()) ms += s.ms;
      t.push_back(ms);
    } else {
      const auto t0 = std::chrono::steady_clock::now();
      exe.run();
      output(exe, g);
      t.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

// Restores the forced choice and the table however the pass ends.
struct Restore {
  KernelChoice forced = kernel_choice();
  TuningTable table = tuning();
  ~Restore() {
    set_kernel_choice(forced);
    set_tuning(std::move(table));
  }
};

}  // namespace

std::vector<std::string> tuning_candidates(const Graph& g, const Node& n, bool software) {
  std::vector<std::string> c{""};
  const auto add = [&](const std::string& s) { c.push_back(s); };
  switch (n.op) {
    case Op::kLinear:
    case Op::kConv2d: {
      const bool wino = winograd_applies(g, n);
      const std::string direct = wino ? "winograd=0," : "";
      if (software) {  // no barriers (the direct core) or the smallest tiles, unsplit
        add(direct + "gemm=" + std::to_string(kGemmDirect));
        add(direct + "gemm=1,gemm_split=1");
        if (wino) add("winograd=1,gemm=" + std::to_string(kGemmDirect));
        break;
      }
      const Shape& ws = g.shape(n.inputs[1]);
      const int64_t k = ws.numel() / ws[0];
      // The product's M x N (lowering.cpp, plan_gemm): a convolution's M is its outputs, N its pixels.
      const int64_t m = n.op == Op::kConv2d ? ws[0] : n.shape.numel() / ws[0];
      const int64_t cols = n.op == Op::kConv2d ? n.shape.numel() / ws[0] : ws[0];
      for (int v = 1; v < kGemmDirect; ++v) {
        const GemmTile& t = kGemmTiles[v];
        const int64_t tiles = ((m + t.m - 1) / t.m) * ((cols + t.n - 1) / t.n);
        for (int split : {1, 2, 4})  // K split only where the tiles alone leave the GPU short of work
          if (split == 1 || (tiles < 512 && k >= int64_t(split) * t.k * 12))  // a dozen K steps a slice at least
            add(direct + "gemm=" + std::to_string(v) + ",gemm_split=" + std::to_string(split));
      }
      if (n.op == Op::kLinear && k % 4 == 0)
        for (int v : {1, 2, 4}) add("gemm=" + std::to_string(v) + ",gemm_split=1,linear_a=0");
      if (wino)
        for (int v : {1, 2, 4, 5}) add("winograd=1,gemm=" + std::to_string(v));
      break;
    }
    case Op::kAttention:
      for (int v : software ? std::vector<int>{0, 1} : std::vector<int>{1, 2, 3, 4})
        add("attention=" + std::to_string(v));
      break;
    case Op::kGroupNorm:
      for (int v : software ? std::vector<int>{0, 2} : std::vector<int>{0, 1}) add("group_norm=" + std::to_string(v));
      break;
    case Op::kLayerNorm:
      for (int v : {0, 1}) add("layer_norm=" + std::to_string(v));
      break;
    default: return {};
  }
  return c;
}

TuneResult tune(Backend& gpu, const std::vector<std::shared_ptr<const Graph>>& graphs, const TuneOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  const std::shared_ptr<Device> device = Device::open();
  const bool software = software_rules(device->info().is_software != 0);
  Restore restore;
  set_tuning({});

  struct Problem {
    const Graph* graph;
    TensorId node;
    int count = 0;
  };
  std::map<std::string, Problem> problems;
  std::vector<std::string> order;  // first occurrence first
  for (const auto& g : graphs)
    for (TensorId id = 0; id < TensorId(g->nodes().size()); ++id) {
      const std::string key = problem_key(*g, g->node(id));
      if (key.empty() || key.find(options.filter) == std::string::npos) continue;
      auto [it, fresh] = problems.try_emplace(key, Problem{g.get(), id, 0});
      it->second.count++;
      if (fresh) order.push_back(key);
    }

  TuneResult result;
  result.table.adapter = device->description();
  int done = 0;
  for (const std::string& key : order) {
    const Problem& pr = problems.at(key);
    const Node& n = pr.graph->node(pr.node);
    // Weights of this problem alone: the backend keeps their GPU copies across the candidates and lets them go
    // with the problem (one owner per tensor while these live).
    const RandomWeights f16(DType::kF16, 3), f32(DType::kF32, 3), i8(DType::kI8, 3);
    const std::shared_ptr<Graph> one = alone(*pr.graph, n, f16, f32, i8);
    const int runs = std::max(1, options.runs);
    // The rules' executable first (its output is what every other must agree with), then each candidate; the
    // fastest is kept alive for the final comparison.
    const auto compiled = [&](const std::string& choice) {
      set_kernel_choice(choice);
      auto exe = gpu.compile(one);
      fill_inputs(*exe, *one);
      return exe;
    };
    std::unique_ptr<Executable> rules = compiled(""), fastest;
    rules->run();
    const std::vector<float> want = output(*rules, *one);
    double auto_ms = median_ms(*rules, *one, runs), best_ms = auto_ms;
    ++result.candidates;
    std::string best;
    const std::vector<std::string> candidates = tuning_candidates(*pr.graph, n, software);
    for (size_t c = 1; c < candidates.size() && auto_ms * pr.count >= kMinWorthMs; ++c) {
      try {
        auto exe = compiled(candidates[c]);
        const double ms = median_ms(*exe, *one, runs);
        ++result.candidates;
        if (ms < best_ms) {
          best_ms = ms;
          best = candidates[c];
          fastest = std::move(exe);
        }
      } catch (const Error& e) {
        if (e.code() == ErrorCode::kDeviceLost || e.code() == ErrorCode::kCancelled) throw;
        // a candidate this device cannot run (a limit): not a choice here
      }
    }
    if (fastest) {
      // The final comparison: the rules and the fastest timed again in turn, at the same clocks; the fastest
      // counts only if its output agrees with the rules' (a variant a driver gets wrong is never chosen).
      for (int r = 0; r < 2; ++r) {
        auto_ms = std::min(auto_ms, median_ms(*rules, *one, runs));
        best_ms = r ? std::min(best_ms, median_ms(*fastest, *one, runs)) : median_ms(*fastest, *one, runs);
      }
      fastest->run();
      if (!(disagreement(output(*fastest, *one), want) <= kMaxDisagreement)) best_ms = auto_ms;
    }
    if (best_ms > auto_ms * (1 - kMinGain)) {  // not clearly faster: the rules stay
      best.clear();
      best_ms = auto_ms;
    }
    result.table.problems[key] = TunedProblem{best, best_ms, auto_ms, pr.count};
    result.auto_ms += pr.count * auto_ms;
    result.tuned_ms += pr.count * best_ms;
    ++done;
    if (options.progress && !options.progress(done, int(order.size())))
      throw Error(ErrorCode::kCancelled, "kernel tuning cancelled");
  }
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

}  // namespace websd::webgpu
