#include "op_cases.h"

#include <cmath>
#include <random>

#include "core/low_rank.h"

namespace websd::test {
namespace {

// A stored tensor with random contents in the requested dtype.
WeightData random_data(std::vector<std::shared_ptr<void>>& keep, const std::string& name, Shape shape, DType dtype,
                       float amp = 0.5f, float offset = 0.0f) {
  std::mt19937 rng(uint32_t(std::hash<std::string>{}(name) + shape.numel()));
  std::uniform_real_distribution<float> u(-amp, amp);
  const size_t n = size_t(shape.numel());
  if (dtype == DType::kI8) {  // quantized: int8 values, one scale per output channel
    struct Q8 {
      std::vector<int8_t> q;
      std::vector<float> scales;
    };
    auto buf = std::make_shared<Q8>();
    buf->q.resize(n);
    for (auto& v : buf->q) v = int8_t(int(rng() % 255) - 127);
    for (int64_t o = 0; o < shape[0]; ++o) buf->scales.push_back(amp / 127.0f * (1.0f + 0.1f * float(o % 7)));
    keep.push_back(buf);
    WeightData w{name, dtype, std::move(shape), buf->q.data(), buf};
    w.scales = buf->scales.data();
    return w;
  }
  std::shared_ptr<std::vector<uint8_t>> buf = std::make_shared<std::vector<uint8_t>>(n * dtype_size(dtype));
  for (size_t i = 0; i < n; ++i) {
    const float v = u(rng) + offset;
    if (dtype == DType::kF32) reinterpret_cast<float*>(buf->data())[i] = v;
    if (dtype == DType::kF16) reinterpret_cast<uint16_t*>(buf->data())[i] = f32_to_f16(v);
    if (dtype == DType::kBF16) {
      uint32_t bits;
      std::memcpy(&bits, &v, 4);
      reinterpret_cast<uint16_t*>(buf->data())[i] = uint16_t(bits >> 16);
    }
  }
  keep.push_back(buf);
  return WeightData{name, dtype, std::move(shape), buf->data(), buf};
}

TensorId random_weight(Graph& g, std::vector<std::shared_ptr<void>>& keep, const std::string& name, Shape shape,
                       DType dtype, float amp = 0.5f, float offset = 0.0f) {
  return g.weight(random_data(keep, name, std::move(shape), dtype, amp, offset));
}

// A random weight of `base` storage plus a random product of `rank` (a LoRA merged into it: core/low_rank.h),
// stored as `merged`.
TensorId low_rank_weight(Graph& g, std::vector<std::shared_ptr<void>>& keep, Shape shape, DType base, int64_t rank,
                         DType merged) {
  auto sum = std::make_shared<LowRankSum>();
  sum->base = random_data(keep, "w", shape, base);
  sum->rank = rank;
  std::mt19937 rng(uint32_t(shape.numel() + rank));
  std::uniform_real_distribution<float> u(-0.3f, 0.3f);
  sum->up.resize(size_t(shape[0] * rank));
  sum->down.resize(size_t(shape.numel() / shape[0] * rank));
  for (float& v : sum->up) v = u(rng);
  for (float& v : sum->down) v = u(rng);
  return g.weight(low_rank_sum("w", std::move(sum), merged));
}

std::string dims(std::initializer_list<int64_t> d) {
  std::string s;
  for (int64_t x : d) s += (s.empty() ? "" : "x") + std::to_string(x);
  return s;
}

}  // namespace

std::vector<OpCase> all_op_cases() {
  std::vector<OpCase> cases;
  auto add = [&](std::string name, std::function<void(Graph&, std::vector<std::shared_ptr<void>>&)> f) {
    cases.push_back({std::move(name), std::move(f)});
  };

  // The init-captures below copy structured bindings, which clang 14 (the wasm build) cannot capture directly.
  // 3x5x7: a weight of an odd number of f16 values (padded to whole words on upload).
  for (auto [m, k, n] : {std::tuple{1, 32, 16}, {7, 40, 33}, {77, 320, 64}, {130, 33, 70}, {3, 5, 7}})
    for (DType dt : {DType::kF32, DType::kF16, DType::kBF16, DType::kI8})
      for (bool bias : {true, false})
        add("linear_" + dims({m, k, n}) + "_" + dtype_name(dt) + (bias ? "_bias" : ""),
            [=, m = m, k = k, n = n](Graph& g, auto& keep) {
          TensorId x = g.input("x", Shape{1, m, k});
          TensorId w = random_weight(g, keep, "w", Shape{n, k}, dt);
          TensorId b = bias ? random_weight(g, keep, "b", Shape{n}, dt == DType::kI8 ? DType::kF16 : dt) : -1;
          g.mark_output(ops::linear(g, x, w, b), "y");
        });

  struct Conv {
    int b, c, h, w, o, k, stride, pad, pad_end;
  };
  for (Conv cv : {Conv{1, 4, 8, 8, 32, 3, 1, 1, 1}, Conv{2, 5, 9, 7, 6, 3, 1, 1, 1}, Conv{1, 8, 9, 9, 8, 3, 2, 1, 1},
                  Conv{1, 8, 8, 10, 8, 3, 2, 0, 1}, Conv{2, 16, 5, 6, 12, 1, 1, 0, 0}, Conv{2, 16, 4, 6, 12, 1, 1, 0, 0}, Conv{1, 3, 33, 17, 4, 3, 1, 1, 1},
                  Conv{1, 64, 70, 64, 8, 3, 1, 1, 1}, Conv{2, 8, 45, 100, 5, 3, 1, 1, 1}, Conv{5, 8, 6, 5, 16, 3, 1, 1, 1},
                  Conv{1, 272, 4, 4, 272, 3, 1, 1, 1}, Conv{3, 16, 9, 9, 8, 3, 2, 0, 1}})
    for (DType dt : {DType::kF32, DType::kF16, DType::kI8})
      add("conv2d_" + dims({cv.b, cv.c, cv.h, cv.w}) + "_o" + std::to_string(cv.o) + "_k" + std::to_string(cv.k) +
              "_s" + std::to_string(cv.stride) + "_p" + std::to_string(cv.pad) + std::to_string(cv.pad_end) + "_" +
              dtype_name(dt),
          [=](Graph& g, auto& keep) {
            TensorId x = g.input("x", Shape{cv.b, cv.c, cv.h, cv.w});
            TensorId w = random_weight(g, keep, "w", Shape{cv.o, cv.c, cv.k, cv.k}, dt);
            TensorId b = random_weight(g, keep, "b", Shape{cv.o}, dt == DType::kI8 ? DType::kF16 : dt);
            g.mark_output(ops::conv2d(g, x, w, b, cv.stride, cv.pad, cv.pad_end), "y");
          });

  // Residual connections fused into linear and conv2d (graph.h), with and without a bias: 3x3 (Winograd where the
  // choice allows), 1x1 (pointwise loads) and a linear whose K is not a multiple of 4.
  for (auto [m, k, n, bias] : {std::tuple{7, 40, 33, true}, {130, 33, 70, false}, {77, 320, 64, true}})
    add("linear_" + dims({m, k, n}) + (bias ? "_bias" : "") + "_residual",
        [m = m, k = k, n = n, bias = bias](Graph& g, auto& keep) {
          TensorId x = g.input("x", Shape{1, m, k});
          TensorId r = g.input("r", Shape{1, m, n});
          TensorId w = random_weight(g, keep, "w", Shape{n, k}, DType::kF16);
          TensorId b = bias ? random_weight(g, keep, "b", Shape{n}, DType::kF16) : -1;
          g.mark_output(ops::linear(g, x, w, b, r), "y");
        });
  for (auto [c, h, w, o, k, bias] : {std::tuple{5, 9, 7, 6, 3, true}, {16, 4, 6, 12, 1, false}, {8, 6, 5, 16, 3, false}})
    add("conv2d_2x" + dims({c, h, w}) + "_o" + std::to_string(o) + "_k" + std::to_string(k) + (bias ? "_bias" : "") +
            "_residual_F32",
        [c = c, h = h, w = w, o = o, k = k, bias = bias](Graph& g, auto& keep) {
          TensorId x = g.input("x", Shape{2, c, h, w});
          TensorId r = g.input("r", Shape{2, o, h, w});
          TensorId wt = random_weight(g, keep, "w", Shape{o, c, k, k}, DType::kF32);
          TensorId b = bias ? random_weight(g, keep, "b", Shape{o}, DType::kF32) : -1;
          g.mark_output(ops::conv2d(g, x, wt, b, 1, k / 2, -1, r), "y");
        });

  // 5x7 images take the one-workgroup-per-group kernel only; the others (H·W a multiple of 4) every variant, the
  // 90x90 one with groups of several 4096-element chunks, the last one partial (combined in the apply pass, as the
  // 32x32 one's single chunks), the 130x130 one with more chunks than that pass combines (a separate finish).
  for (auto [groups, c, silu, h, w] : {std::tuple{32, 64, true, 5, 7}, {32, 32, false, 5, 7}, {8, 48, true, 5, 7},
                                       {32, 64, true, 8, 8}, {8, 32, false, 90, 90}, {32, 64, true, 32, 32},
                                       {1, 16, false, 130, 130}})
    add("group_norm_g" + std::to_string(groups) + "_c" + std::to_string(c) + "_" + dims({h, w}) + (silu ? "_silu" : ""),
        [groups = groups, c = c, silu = silu, h = h, w = w](Graph& g, auto& keep) {
          TensorId x = g.input("x", Shape{2, c, h, w});
          TensorId gamma = random_weight(g, keep, "gamma", Shape{c}, DType::kF16, 0.5f, 1.0f);
          TensorId beta = random_weight(g, keep, "beta", Shape{c}, DType::kF16);
          g.mark_output(ops::group_norm(g, x, gamma, beta, groups, 1e-5f, silu ? Act::kSilu : Act::kNone), "y");
        });

  add("layer_norm", [](Graph& g, auto& keep) {
    TensorId x = g.input("x", Shape{2, 77, 96});
    TensorId gamma = random_weight(g, keep, "gamma", Shape{96}, DType::kF16, 0.5f, 1.0f);
    TensorId beta = random_weight(g, keep, "beta", Shape{96}, DType::kF32);
    g.mark_output(ops::layer_norm(g, x, gamma, beta, 1e-5f), "y");
  });

  struct Attn {
    int b, lq, lk, c, heads;
    bool causal;
  };
  for (Attn at : {Attn{2, 77, 77, 64, 4, true}, Attn{1, 64, 77, 32, 8, false}, Attn{2, 300, 300, 40, 1, false},
                  Attn{1, 513, 77, 80, 2, false}, Attn{1, 260, 260, 16, 2, true}, Attn{1, 96, 90, 160, 2, false},
                  Attn{2, 70, 77, 320, 2, false}, Attn{1, 100, 100, 512, 1, false}, Attn{1, 50, 50, 192, 3, true}})
    add("attention_" + dims({at.b, at.lq, at.lk, at.c}) + "_h" + std::to_string(at.heads) + (at.causal ? "_causal" : ""),
        [=](Graph& g, auto&) {
          TensorId q = g.input("q", Shape{at.b, at.lq, at.c});
          TensorId k = g.input("k", Shape{at.b, at.lk, at.c});
          TensorId v = g.input("v", Shape{at.b, at.lk, at.c});
          g.mark_output(ops::attention(g, q, k, v, at.heads, 1.0f / std::sqrt(float(at.c / at.heads)), at.causal), "y");
        });

  add("add_same_shape", [](Graph& g, auto&) {
    g.mark_output(ops::add(g, g.input("a", Shape{2, 3, 5, 7}), g.input("b", Shape{2, 3, 5, 7})), "y");
  });
  add("add_suffix_broadcast_f16", [](Graph& g, auto& keep) {
    TensorId b = random_weight(g, keep, "pos", Shape{77, 32}, DType::kF16);
    g.mark_output(ops::add(g, g.input("a", Shape{2, 77, 32}), b), "y");
  });
  add("add_channel", [](Graph& g, auto&) {
    g.mark_output(ops::add_channel(g, g.input("a", Shape{2, 6, 5, 7}), g.input("b", Shape{2, 6})), "y");
  });
  add("mul", [](Graph& g, auto&) { g.mark_output(ops::mul(g, g.input("a", Shape{3, 50}), g.input("b", Shape{3, 50})), "y"); });
  // A ControlNet's residual times its conditioning scale (one value, set at run time).
  add("mul_scalar", [](Graph& g, auto&) {
    g.mark_output(ops::mul(g, g.input("a", Shape{2, 6, 5, 7}), g.input("scale", Shape{1})), "y");
  });
  add("mul_suffix_broadcast", [](Graph& g, auto&) {
    g.mark_output(ops::mul(g, g.input("a", Shape{2, 6, 5, 7}), g.input("b", Shape{5, 7})), "y");
  });
  add("scale", [](Graph& g, auto&) { g.mark_output(ops::scale(g, g.input("a", Shape{3, 50}), -0.37f), "y"); });
  add("silu", [](Graph& g, auto&) { g.mark_output(ops::silu(g, g.input("a", Shape{4, 1000})), "y"); });
  add("relu", [](Graph& g, auto&) { g.mark_output(ops::relu(g, g.input("a", Shape{4, 1000})), "y"); });
  add("gelu", [](Graph& g, auto&) { g.mark_output(ops::gelu(g, g.input("a", Shape{4, 1000})), "y"); });
  add("quick_gelu", [](Graph& g, auto&) { g.mark_output(ops::quick_gelu(g, g.input("a", Shape{4, 1000})), "y"); });
  add("geglu", [](Graph& g, auto&) { g.mark_output(ops::geglu(g, g.input("a", Shape{2, 30, 64})), "y"); });
  add("upsample_2x", [](Graph& g, auto&) { g.mark_output(ops::upsample(g, g.input("a", Shape{2, 3, 5, 7}), 10, 14), "y"); });
  add("upsample_odd", [](Graph& g, auto&) { g.mark_output(ops::upsample(g, g.input("a", Shape{1, 3, 5, 7}), 9, 13), "y"); });
  add("concat", [](Graph& g, auto&) {
    g.mark_output(ops::concat(g, g.input("a", Shape{2, 3, 4, 5}), g.input("b", Shape{2, 6, 4, 5})), "y");
  });
  add("slice", [](Graph& g, auto&) { g.mark_output(ops::slice_channels(g, g.input("a", Shape{2, 8, 3, 3}), 2, 6), "y"); });
  add("to_tokens", [](Graph& g, auto&) { g.mark_output(ops::to_tokens(g, g.input("a", Shape{2, 40, 33, 35})), "y"); });
  add("to_image", [](Graph& g, auto&) { g.mark_output(ops::to_image(g, g.input("a", Shape{2, 33 * 35, 40}), 33, 35), "y"); });
  // LoRA-merged weights (core/low_rank.h), computed by each backend where the base weight lives (webgpu: on the
  // GPU, in every weight layout the GEMM variants read: as stored, K-major, Winograd), stored as the pair says.
  const std::pair<DType, DType> merges[] = {{DType::kF32, DType::kF32}, {DType::kF16, DType::kF32},
                                            {DType::kBF16, DType::kF32}, {DType::kF16, DType::kF16},
                                            {DType::kI8, DType::kI8}};
  for (auto [m, k, n, rank] : {std::tuple{7, 40, 33, 3}, {77, 320, 64, 8}})
    for (auto [base, merged] : merges)
      add("linear_lora_" + dims({m, k, n}) + "_r" + std::to_string(rank) + "_" + dtype_name(base) + "_to_" +
              dtype_name(merged),
          [=, m = m, k = k, n = n, rank = rank, base = base, merged = merged](Graph& g, auto& keep) {
            TensorId x = g.input("x", Shape{1, m, k});
            TensorId w = low_rank_weight(g, keep, Shape{n, k}, base, rank, merged);
            TensorId b = random_weight(g, keep, "b", Shape{n}, DType::kF16);
            g.mark_output(ops::linear(g, x, w, b), "y");
          });
  for (Conv cv : {Conv{2, 5, 9, 7, 6, 3, 1, 1, 1}, Conv{2, 16, 5, 6, 12, 1, 1, 0, 0}, Conv{1, 272, 4, 4, 272, 3, 1, 1, 1}})
    for (auto [base, merged] : merges) {
      if (cv.c == 272 && base != merged) continue;  // the large case is for f16 transformed weights staying f16
      add("conv2d_lora_" + dims({cv.b, cv.c, cv.h, cv.w}) + "_o" + std::to_string(cv.o) + "_k" + std::to_string(cv.k) +
              "_s1_p" + std::to_string(cv.pad) + std::to_string(cv.pad_end) + "_" + dtype_name(base) + "_to_" +
              dtype_name(merged),
          [=, base = base, merged = merged](Graph& g, auto& keep) {
            TensorId x = g.input("x", Shape{cv.b, cv.c, cv.h, cv.w});
            TensorId w = low_rank_weight(g, keep, Shape{cv.o, cv.c, cv.k, cv.k}, base, 2, merged);
            TensorId b = random_weight(g, keep, "b", Shape{cv.o}, DType::kF16);
            g.mark_output(ops::conv2d(g, x, w, b, 1, cv.pad, cv.pad_end), "y");
          });
    }
  for (DType dt : {DType::kF16, DType::kI8})
    add(std::string("embedding_") + dtype_name(dt), [dt](Graph& g, auto& keep) {
      TensorId table = random_weight(g, keep, "table", Shape{500, 24}, dt);
      g.mark_output(ops::embedding(g, table, g.input("ids", Shape{2, 77}, DType::kI32)), "y");
    });
  return cases;
}

PreparedCase prepare_case(Backend& backend, const OpCase& c) {
  PreparedCase p;
  p.graph = std::make_shared<Graph>();
  c.build(*p.graph, p.keep);
  p.exe = backend.compile(p.graph);
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-2.0f, 2.0f);
  for (TensorId id : p.graph->inputs()) {
    const Node& n = p.graph->node(id);
    if (n.dtype == DType::kI32) {
      std::vector<int32_t> ids(size_t(n.shape.numel()));
      for (auto& v : ids) v = int32_t(rng() % 500);
      p.exe->set_input(id, ids.data());
    } else {
      std::vector<float> x(size_t(n.shape.numel()));
      for (auto& v : x) v = u(rng);
      p.exe->set_input(id, x.data());
    }
  }
  return p;
}

std::vector<float> read_output(PreparedCase& p) {
  TensorId out = p.graph->outputs().at(0);
  std::vector<float> y(size_t(p.graph->shape(out).numel()));
  p.exe->read(out, y.data());
  return y;
}

std::vector<float> run_op_case(Backend& backend, const OpCase& c) {
  PreparedCase p = prepare_case(backend, c);
  p.exe->run();
  return read_output(p);
}

double normalised_error(const std::vector<float>& got, const std::vector<float>& want) {
  double num = 0, den = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    num += double(got[i] - want[i]) * double(got[i] - want[i]);
    den += double(want[i]) * double(want[i]);
  }
  return den > 0 ? num / den : num;
}

}  // namespace websd::test
