#include "core/low_rank.h"

#include <mutex>

#include "core/error.h"

namespace websd {
namespace {

// What a low-rank weight's owner holds: its description, and its host copy once something asked for it.
struct LowRankState {
  std::shared_ptr<const LowRankSum> sum;
  std::string name;
  DType dtype;
  std::mutex mu;
  WeightData host;  // resident once computed

  WeightData compute() const {
    const WeightData w = resident(sum->base);
    const Shape& shape = w.shape;
    const size_t n = size_t(shape.numel()), out = size_t(shape[0]), in = n / out, rank = size_t(sum->rank);
    auto f = std::make_shared<std::vector<float>>(n);
    expand_weight(w, 0, n, f->data());
    std::vector<float> delta(in);
    for (size_t o = 0; o < out; ++o) {
      std::fill(delta.begin(), delta.end(), 0.0f);
      for (size_t r = 0; r < rank; ++r) {
        const float u = sum->up[o * rank + r];
        const float* d = sum->down.data() + r * in;
        for (size_t i = 0; i < in; ++i) delta[i] += u * d[i];
      }
      float* row = f->data() + o * in;
      for (size_t i = 0; i < in; ++i) row[i] += delta[i];
    }
    WeightData m;
    m.name = name;
    m.dtype = dtype;
    m.shape = shape;
    if (dtype == DType::kF32) {
      m.data = f->data();
      m.owner = f;
    } else if (dtype == DType::kF16) {
      auto h = std::make_shared<std::vector<uint16_t>>(n);
      for (size_t i = 0; i < n; ++i) (*h)[i] = f32_to_f16((*f)[i]);
      m.data = h->data();
      m.owner = h;
    } else {
      struct Q8 {
        std::vector<uint8_t> q;
        std::vector<float> scales;
      };
      auto q = std::make_shared<Q8>();
      quantize_q8(*f, int64_t(out), q->q, q->scales);
      m.data = q->q.data();
      m.scales = q->scales.data();
      m.owner = q;
    }
    return m;
  }
};

}  // namespace

WeightData low_rank_sum(std::string name, std::shared_ptr<const LowRankSum> sum, DType dtype) {
  const Shape& shape = sum->base.shape;
  if (dtype != DType::kF32 && dtype != DType::kF16 && dtype != DType::kI8)
    throw Error(ErrorCode::kInternal, "low_rank_sum: " + name + " cannot be stored as " + dtype_name(dtype));
  if (shape.rank() < 1 || sum->rank < 1 || sum->up.size() != size_t(shape[0] * sum->rank) ||
      sum->down.size() != size_t(shape.numel() / shape[0] * sum->rank))
    throw Error(ErrorCode::kInternal, "low_rank_sum: factors of rank " + std::to_string(sum->rank) +
                                          " do not fit " + name + " " + shape.str());
  auto state = std::make_shared<LowRankState>();
  state->sum = sum;
  state->name = name;
  state->dtype = dtype;
  WeightData w;
  w.name = std::move(name);
  w.dtype = dtype;
  w.shape = shape;
  w.owner = state;
  w.low_rank = std::move(sum);
  w.load = [state] {
    std::lock_guard<std::mutex> lock(state->mu);
    if (!state->host.data) state->host = state->compute();
    return state->host;
  };
  return w;
}

}  // namespace websd
