#include "backends/webgpu/tuning.h"

#include <cmath>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace websd::webgpu {
namespace {

constexpr const char* kFormat = "websd-webgpu-tuning";

TuningTable& current() {
  static TuningTable table;
  return table;
}

std::string dims(std::initializer_list<std::pair<const char*, int64_t>> values) {
  std::string out;
  for (const auto& [name, v] : values) out += std::string(" ") + name + "=" + std::to_string(v);
  return out;
}

// " q8" for a linear or convolution of a q8 weight, which runs other kernels (no Winograd, int8 loads); f32, f16
// and bf16 weights run the same ones, so one tuning serves a model in any of them.
std::string weight_kind(const Graph& g, const Node& n) {
  const Node& w = g.node(n.inputs[1]);
  return w.op == Op::kWeight && g.weights()[size_t(w.weight)].dtype == DType::kI8 ? " q8" : "";
}

[[noreturn]] void bad(const std::string& what) {
  throw Error(ErrorCode::kInvalidArgument, "kernel tuning table: " + what);
}

}  // namespace

TuningTable TuningTable::from_json(const std::string& text) {
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_object()) bad("not a JSON object");
  if (j.value("format", "") != kFormat) bad("not a websd kernel tuning table (format is not \"" + std::string(kFormat) + "\")");
  if (!j.contains("version") || !j["version"].is_number_integer() || j["version"].get<int>() != kTuningVersion)
    bad("made for another version of websd's kernels (version " +
        (j.contains("version") ? j["version"].dump() : std::string("missing")) + ", this build reads " +
        std::to_string(kTuningVersion) + "): tune again");
  if (!j.contains("adapter") || !j["adapter"].is_string()) bad("no \"adapter\" string");
  if (!j.contains("problems") || !j["problems"].is_object()) bad("no \"problems\" object");
  TuningTable t;
  t.adapter = j["adapter"].get<std::string>();
  for (const auto& item : j["problems"].items()) {
    const std::string key = item.key();  // not a structured binding: the lambda below captures it
    const nlohmann::json& v = item.value();
    if (!v.is_object() || !v.contains("choice") || !v["choice"].is_string())
      bad("problem \"" + key + "\" has no \"choice\" string");
    TunedProblem p;
    p.choice = v["choice"].get<std::string>();
    try {
      parse_kernel_choice(p.choice);
    } catch (const Error& e) {
      bad("problem \"" + key + "\": " + e.what());
    }
    const auto number = [&](const char* name) {
      if (!v.contains(name)) return 0.0;
      if (!v[name].is_number() || !std::isfinite(v[name].get<double>())) bad("problem \"" + key + "\": \"" + name + "\" is not a number");
      return v[name].get<double>();
    };
    p.ms = number("ms");
    p.auto_ms = number("auto_ms");
    p.count = int(number("count"));
    t.problems.emplace(key, std::move(p));
  }
  return t;
}

std::string TuningTable::to_json() const {
  nlohmann::json problems = nlohmann::json::object();
  for (const auto& [key, p] : this->problems)
    problems[key] = {{"choice", p.choice}, {"ms", p.ms}, {"auto_ms", p.auto_ms}, {"count", p.count}};
  return nlohmann::json{{"format", kFormat}, {"version", kTuningVersion}, {"adapter", adapter}, {"problems", problems}}
      .dump(1);
}

void TuningTable::merge(const TuningTable& other) {
  if (!adapter.empty() && other.adapter != adapter)
    throw Error(ErrorCode::kInvalidArgument, "kernel tuning tables of two adapters cannot be merged ('" + adapter +
                                                 "' and '" + other.adapter + "')");
  adapter = other.adapter;
  for (const auto& [key, p] : other.problems) problems[key] = p;
}

void set_tuning(TuningTable table) { current() = std::move(table); }
const TuningTable& tuning() { return current(); }

std::string problem_key(const Graph& g, const Node& n) {
  switch (n.op) {
    case Op::kLinear: {
      const Shape& ws = g.shape(n.inputs[1]);
      return "linear" + dims({{"M", n.shape.numel() / ws[0]}, {"N", ws[0]}, {"K", ws[1]}}) + weight_kind(g, n);
    }
    case Op::kConv2d: {
      const Shape &xs = g.shape(n.inputs[0]), &ws = g.shape(n.inputs[1]);
      return "conv2d" + dims({{"B", xs[0]}, {"C", xs[1]}, {"H", xs[2]}, {"W", xs[3]}, {"O", ws[0]}, {"kh", ws[2]},
                              {"kw", ws[3]}, {"stride", n.p.stride}, {"pad", n.p.pad}, {"pad_end", n.p.pad_end}}) +
             weight_kind(g, n);
    }
    case Op::kAttention: {
      const Shape &qs = g.shape(n.inputs[0]), &ks = g.shape(n.inputs[1]);
      return "attention" + dims({{"B", qs[0]}, {"Lq", qs[1]}, {"Lk", ks[1]}, {"C", qs[2]}, {"heads", n.p.heads},
                                 {"causal", n.p.causal}});
    }
    case Op::kGroupNorm:
      return "group_norm" + dims({{"B", n.shape[0]}, {"C", n.shape[1]},
                                  {"S", n.shape.numel() / (n.shape[0] * n.shape[1])}, {"groups", n.p.groups}});
    case Op::kLayerNorm:
      return "layer_norm" + dims({{"rows", n.shape.numel() / n.shape.dims.back()}, {"C", n.shape.dims.back()}});
    default: return "";
  }
}

KernelChoice choice_for(const Graph& g, const Node& n, const wsd_gpu_info& info) {
  const TuningTable& t = current();
  if (t.problems.empty() || t.adapter != info.description) return kernel_choice();
  const auto it = t.problems.find(problem_key(g, n));
  if (it == t.problems.end() || it->second.choice.empty()) return kernel_choice();
  return merged(kernel_choice(), parse_kernel_choice(it->second.choice));
}

}  // namespace websd::webgpu
