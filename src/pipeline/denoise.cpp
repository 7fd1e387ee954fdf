#include "pipeline/denoise.h"

#include <algorithm>

#include "core/error.h"

namespace websd {

namespace {

// The graph input `id` (if the UNet has it) must receive exactly `values`; absent inputs take nothing.
void check_input(const UNetGraph& net, TensorId id, const std::vector<float>& values, const char* what) {
  const size_t want = id >= 0 ? size_t(net.graph->shape(id).numel()) : 0;
  if (values.size() != want)
    throw Error(ErrorCode::kShapeMismatch, std::string("denoise: the UNet graph takes ") + std::to_string(want) +
                                               " " + what + " values, got " + std::to_string(values.size()));
}

}  // namespace

void denoise(Executable& unet, const UNetGraph& net, const UNetConfig& cfg, Scheduler& s,
             std::vector<float>& latents, const UNetConditioning& cond, float guidance, TorchGenerator& gen,
             const std::function<bool(int iteration, const std::vector<float>& latents)>& on_step, int first,
             const KnownRegion* known) {
  const bool guided = guidance > 1;
  const int batch = guided ? 2 : 1;
  const Shape in = net.graph->shape(net.sample), out_shape = net.graph->shape(net.out);
  const size_t n = latents.size(), extra = cond.concat.size(), entry = n + extra;  // per batch entry
  if (in[0] != batch || size_t(in.numel()) != entry * size_t(batch) || size_t(out_shape.numel()) != n * size_t(batch))
    throw Error(ErrorCode::kShapeMismatch, "denoise: the UNet graph takes " + in.str() + " samples, but got " +
                                               std::to_string(n) + " latents, " + std::to_string(extra) +
                                               " concatenated values and guidance " + std::to_string(guidance));
  check_input(net, net.context, cond.context, "context");
  check_input(net, net.added_cond, cond.added, "added-conditioning");
  check_input(net, net.timestep_cond, cond.timestep_cond, "timestep-cond");
  if (cond.controls.size() != net.control_images.size())
    throw Error(ErrorCode::kShapeMismatch, "denoise: the UNet graph has " + std::to_string(net.control_images.size()) +
                                               " ControlNets, the conditioning " + std::to_string(cond.controls.size()));
  for (size_t c = 0; c < cond.controls.size(); ++c)
    check_input(net, net.control_images[c], cond.controls[c].image, "control-image");
  if (known && (known->image.size() != n || known->noise.size() != n || known->mask.empty() || n % known->mask.size()))
    throw Error(ErrorCode::kShapeMismatch, "denoise: the known region does not match the latents");
  const size_t dim = size_t(cfg.block_out_channels[0]);
  std::vector<float> proper;
  std::vector<float> x(entry * size_t(batch)), time(dim * size_t(batch)), out(n * size_t(batch)), noise(n);
  for (int i = first; i < s.iterations(); ++i) {
    const float scale = float(s.input_scale(i));
    for (size_t k = 0; k < n; ++k) x[k] = latents[k] * scale;
    std::copy(cond.concat.begin(), cond.concat.end(), x.begin() + long(n));  // after scale_model_input, as diffusers
    if (guided) std::copy(x.begin(), x.begin() + long(entry), x.begin() + long(entry));
    for (int b = 0; b < batch; ++b)
      unet_time_features(cfg, float(s.timesteps()[size_t(i)]), time.data() + b * dim);
    // The sample and time features change every step; the conditioning is set again too (a copy of at most a few
    // hundred KB), so that each run depends only on this iteration's calls.
    unet.set_input(net.sample, x.data());
    unet.set_input(net.time_proj, time.data());
    unet.set_input(net.context, cond.context.data());
    if (net.added_cond >= 0) unet.set_input(net.added_cond, cond.added.data());
    if (net.timestep_cond >= 0) unet.set_input(net.timestep_cond, cond.timestep_cond.data());
    const double run = double(s.iterations() - first), at = double(i - first);
    for (size_t c = 0; c < cond.controls.size(); ++c) {
      const UNetConditioning::Control& ctl = cond.controls[c];
      const bool acts = !(at / run < ctl.start || (at + 1) / run > ctl.end);
      const float scale = acts ? ctl.scale : 0.0f;
      unet.set_input(net.control_images[c], ctl.image.data());
      unet.set_input(net.control_scales[c], &scale);
    }
    unet.run();
    unet.read(net.out, out.data());
    for (size_t k = 0; k < n; ++k) noise[k] = guided ? out[k] + guidance * (out[n + k] - out[k]) : out[k];
    s.step(noise, i, latents, gen);
    if (known) {
      proper = known->image;
      if (i + 1 < s.iterations()) s.add_noise(proper, known->noise, i + 1);
      const size_t plane = known->mask.size();
      for (size_t k = 0; k < n; ++k) {
        const float m = known->mask[k % plane];
        latents[k] = (1 - m) * proper[k] + m * latents[k];
      }
    }
    if (on_step && !on_step(i, latents)) throw Error(ErrorCode::kCancelled, "generation cancelled");
  }
}

}  // namespace websd
