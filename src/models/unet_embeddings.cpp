#include "models/unet_embeddings.h"

#include <cmath>
#include <string>

#include "core/error.h"
#include "models/unet.h"

namespace websd {

void timestep_features(float t, int dim, bool flip_sin_to_cos, float freq_shift, float* dst) {
  const int half = dim / 2;
  for (int i = 0; i < half; ++i) {
    float exponent = float(-std::log(10000.0)) * float(i);
    exponent = exponent / (float(half) - freq_shift);
    const float arg = t * std::exp(exponent);
    const float s = float(std::sin(double(arg))), c = float(std::cos(double(arg)));
    dst[i] = flip_sin_to_cos ? c : s;
    dst[half + i] = flip_sin_to_cos ? s : c;
  }
  if (dim % 2) dst[dim - 1] = 0;
}

void guidance_scale_embedding(double w, int dim, float* dst) {
  // w * 1000, log(10000) / (half - 1), arange * -that, exp, w * freqs: each a float32 tensor op; sin first.
  const float scaled = float(w) * 1000.0f;
  const int half = dim / 2;
  const float step = std::log(10000.0f) / float(half - 1);
  for (int i = 0; i < half; ++i) {
    const float arg = scaled * std::exp(float(i) * -step);
    dst[i] = float(std::sin(double(arg)));
    dst[half + i] = float(std::cos(double(arg)));
  }
  if (dim % 2) dst[dim - 1] = 0;
}

std::vector<float> text_time_condition(const UNetConfig& cfg, std::span<const float> pooled,
                                       const std::array<float, 6>& time_ids) {
  const int per_id = cfg.addition_time_embed_dim;
  const size_t want = size_t(cfg.projection_class_embeddings_input_dim);
  if (!cfg.text_time || pooled.size() + 6 * size_t(per_id) != want)
    throw Error(ErrorCode::kShapeMismatch,
                "the UNet's added conditioning takes " + std::to_string(want) +
                    " values (text_time: pooled text " + "embeds + 6 x " + std::to_string(per_id) +
                    " time-id features), but the pooled text embeds have " + std::to_string(pooled.size()));
  std::vector<float> out(pooled.begin(), pooled.end());
  out.resize(want);
  for (size_t k = 0; k < time_ids.size(); ++k)
    timestep_features(time_ids[k], per_id, cfg.flip_sin_to_cos, cfg.freq_shift,
                      out.data() + pooled.size() + k * size_t(per_id));
  return out;
}

TensorId time_embedding(ModuleBuilder& m, const UNetConfig& cfg, const TimeEmbeddingInputs& in) {
  Graph& g = m.g;
  const int64_t dim = cfg.time_embed_dim();
  TensorId x = in.time_proj;
  if (in.timestep_cond >= 0)
    x = ops::add(g, x, m.linear("time_embedding.cond_proj", in.timestep_cond, m.last_dim(x), false));
  TensorId temb = m.linear("time_embedding.linear_1", x, dim);
  temb = m.linear("time_embedding.linear_2", ops::silu(g, temb), dim);
  if (in.added_cond >= 0) {
    TensorId aug = m.linear("add_embedding.linear_1", in.added_cond, dim);
    aug = m.linear("add_embedding.linear_2", ops::silu(g, aug), dim);
    temb = ops::add(g, temb, aug);
  }
  return temb;
}

}  // namespace websd
