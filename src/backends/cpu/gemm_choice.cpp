#include "backends/cpu/gemm_choice.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <vector>

#include "backends/cpu/gemm.h"
#include "core/dtype.h"
#include "core/error.h"

namespace websd::cpu {
namespace {

// Products of the shapes SD 1.5's networks multiply at 512×512 (batch 2 for the UNet), scaled to take a few
// milliseconds each: attention projections at 64×64 tokens, a feed-forward product, cross-attention keys, a 3×3
// convolution's tap over an image band and its Winograd products, an im2col convolution at 16×16 and a 1×1.
// Where one operand is a weight it is stored in f16, as packs and most checkpoints hold it, and the BLAS's time
// includes making its f32 copy (Gemm::prepare), as it does in a network.
struct Probe {
  const char* name;
  int64_t m, n, k;
  bool b_transposed;  // linear: x · wᵀ
  char weight;        // which operand is a stored weight: 'A', 'B' or 0
};
constexpr Probe kProbes[] = {
    {"attention projection", 4096, 320, 320, true, 'B'}, {"feed-forward", 1024, 2560, 640, true, 'B'},
    {"cross-attention k/v", 154, 320, 768, true, 'B'},   {"3x3 tap", 256, 2064, 256, false, 0},
    {"winograd product", 512, 256, 512, false, 0},       {"im2col 16x16", 640, 512, 2880, false, 'A'},
    {"1x1", 320, 2048, 320, false, 'A'}};
constexpr int kProbeSet = 2;  // part of the cache key: a new set is measured again

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0 || line.rfind("Model", 0) == 0) {
      const size_t colon = line.find(':');
      if (colon != std::string::npos) return line.substr(line.find_first_not_of(" \t", colon + 1));
    }
  return "unknown cpu";
}

// What the measurement depends on: the processor, the thread count, the BLAS build and the portable kernel.
std::string machine_key(int threads) {
  return cpu_model() + " | " + std::to_string(threads) + " threads | " + blas_description() + " | " +
         Gemm::portable_description() + " | probes " + std::to_string(kProbeSet);
}

// One product as a network makes it: a stored weight operand in f16 (the BLAS expands it first).
double time_product(const Gemm& gemm, const Probe& p, const std::vector<float>& a, const std::vector<float>& b,
                    const WeightData& w, std::vector<float>& expansion, std::vector<float>& c) {
  const auto t0 = std::chrono::steady_clock::now();
  GemmOperand A{a.data(), nullptr, p.k}, B{b.data(), nullptr, p.b_transposed ? p.k : p.n};
  if (p.weight == 'A') A = gemm.prepare(GemmOperand{nullptr, &w, A.ld}, expansion.data());
  if (p.weight == 'B') B = gemm.prepare(GemmOperand{nullptr, &w, B.ld}, expansion.data());
  gemm(Trans::kNo, p.b_transposed ? Trans::kYes : Trans::kNo, p.m, p.n, p.k, A, B, c.data(), p.n, false);
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

// Best of three per product and implementation, interleaved so that clock changes hit both alike.
nlohmann::json measure(ThreadPool& pool) {
  const Gemm portable(pool, false), blas(pool, true);
  nlohmann::json products = nlohmann::json::array();
  double total[2] = {0, 0};
  for (const Probe& p : kProbes) {
    std::vector<float> a(size_t(p.m * p.k)), b(size_t(p.k * p.n)), c(size_t(p.m * p.n));
    for (size_t i = 0; i < a.size(); ++i) a[i] = float(i % 13) * 0.01f;
    for (size_t i = 0; i < b.size(); ++i) b[i] = float(i % 7) * 0.02f;
    const std::vector<float>& wf = p.weight == 'A' ? a : b;
    std::vector<uint16_t> half(wf.size());
    for (size_t i = 0; i < wf.size(); ++i) half[i] = f32_to_f16(wf[i]);
    WeightData w;
    w.dtype = DType::kF16;
    w.shape = p.weight == 'A' ? Shape{p.m, p.k} : Shape{p.n, p.k};
    w.data = half.data();
    std::vector<float> expansion(wf.size());
    double best[2] = {1e30, 1e30};
    for (int r = 0; r < 4; ++r)
      for (int impl = 0; impl < 2; ++impl) {
        const double ms = time_product(impl ? blas : portable, p, a, b, w, expansion, c);
        if (r > 0) best[impl] = std::min(best[impl], ms);  // the first round warms up
      }
    total[0] += best[0];
    total[1] += best[1];
    products.push_back({{"product", p.name}, {"m", p.m}, {"n", p.n}, {"k", p.k}, {"portable_ms", best[0]},
                        {"blas_ms", best[1]}});
  }
  return {{"portable_ms", total[0]}, {"blas_ms", total[1]}, {"products", products}};
}

std::string summary(const nlohmann::json& m) {
  char text[160];
  std::snprintf(text, sizeof(text), "portable %.1f ms, %s %.1f ms over %zu SD-shaped products",
                m.value("portable_ms", 0.0), blas_name(), m.value("blas_ms", 0.0), m["products"].size());
  return text;
}

nlohmann::json read_cache(const std::string& path) {
  if (path.empty()) return nlohmann::json::object();
  std::ifstream in(path);
  if (!in) return nlohmann::json::object();
  nlohmann::json j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  return j.is_object() ? j : nlohmann::json::object();  // unreadable: timed again and rewritten
}

void write_cache(const std::string& path, const nlohmann::json& j) {
  if (path.empty()) return;
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
  const std::string tmp = path + ".tmp" + std::to_string(getpid());
  {
    std::ofstream out(tmp);
    if (!out) return;
    out << j.dump(2) << "\n";
    if (!out) return;
  }
  std::filesystem::rename(tmp, path, ec);  // whole or not at all, even with processes racing
  if (ec) std::filesystem::remove(tmp, ec);
}

}  // namespace

SgemmChoice measured_sgemm(ThreadPool& pool, const std::string& path) {
  const std::string key = machine_key(pool.size());
  nlohmann::json cache = read_cache(path);
  if (cache.contains(key) && cache[key].is_object() && cache[key].contains("choice") &&
      cache[key]["choice"].is_string() && cache[key].contains("products")) {
    const nlohmann::json& e = cache[key];
    return {e["choice"] == "blas", "cached in " + path + ": " + summary(e)};
  }
  nlohmann::json m = measure(pool);
  const bool blas = m["blas_ms"].get<double>() < m["portable_ms"].get<double>();
  m["choice"] = blas ? "blas" : "portable";
  cache[key] = m;
  write_cache(path, cache);
  return {blas, "measured: " + summary(m) + (path.empty() ? "" : " (saved in " + path + ")")};
}

SgemmRequest parse_sgemm_request(const std::string& text) {
  if (text == "auto") return SgemmRequest::kMeasured;
  if (text == "portable") return SgemmRequest::kPortable;
  if (text == "blas") return SgemmRequest::kBlas;
  throw Error(ErrorCode::kInvalidArgument, "unknown sgemm '" + text + "' (auto, portable or blas)");
}

std::string sgemm_cache_path() {
  if (const char* d = std::getenv("WEBSD_CACHE_DIR"); d && *d) return std::string(d) + "/sgemm.json";
  if (const char* d = std::getenv("XDG_CACHE_HOME"); d && *d) return std::string(d) + "/websd/sgemm.json";
  if (const char* d = std::getenv("HOME"); d && *d) return std::string(d) + "/.cache/websd/sgemm.json";
  return "";
}

SgemmChoice choose_sgemm(ThreadPool& pool, SgemmRequest request) {
  if (!have_blas()) return {false, "this build has no BLAS"};
  if (request == SgemmRequest::kPortable) return {false, "asked for"};
  if (request == SgemmRequest::kBlas) return {true, "asked for"};
  static std::mutex mu;
  static std::map<int, SgemmChoice> by_threads;  // one measurement per process and pool size
  std::lock_guard<std::mutex> lock(mu);
  auto it = by_threads.find(pool.size());
  if (it == by_threads.end()) it = by_threads.emplace(pool.size(), measured_sgemm(pool, sgemm_cache_path())).first;
  return it->second;
}

}  // namespace websd::cpu
