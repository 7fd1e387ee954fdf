#include "pipeline/vae_decode.h"

#include <algorithm>

#include "core/error.h"
#include "core/memory_plan.h"

namespace websd {
namespace {

constexpr float kOverlap = 0.25f;  // diffusers' tile_overlap_factor

// diffusers' blend_v / blend_h: the first `extent` rows (columns) of b fade in from the last ones of a. In place.
void blend_rows(const std::vector<float>& a, int ah, std::vector<float>& b, int bh, int width, int extent) {
  extent = std::min({ah, bh, extent});
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < extent; ++y) {
      const float t = float(y) / float(extent);
      const float* src = a.data() + (size_t(c) * ah + size_t(ah - extent + y)) * width;
      float* dst = b.data() + (size_t(c) * bh + size_t(y)) * width;
      for (int x = 0; x < width; ++x) dst[x] = src[x] * (1 - t) + dst[x] * t;
    }
}

void blend_columns(const std::vector<float>& a, int aw, std::vector<float>& b, int bw, int height, int extent) {
  extent = std::min({aw, bw, extent});
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < height; ++y) {
      const float* src = a.data() + (size_t(c) * height + size_t(y)) * aw;
      float* dst = b.data() + (size_t(c) * height + size_t(y)) * bw;
      for (int x = 0; x < extent; ++x) {
        const float t = float(x) / float(extent);
        dst[x] = src[aw - extent + x] * (1 - t) + dst[x] * t;
      }
    }
}

}  // namespace

VaeDecoder::VaeDecoder(std::shared_ptr<Backend> backend, const VaeConfig& cfg, std::shared_ptr<WeightSource> weights,
                       int lh, int lw, int tile_latent)
    : VaeDecoder(
          std::move(backend), [cfg, weights](int h, int w) { return build_vae_decoder(cfg, *weights, 1, h, w); },
          cfg.downscale(), cfg.latent_channels, false, lh, lw, tile_latent) {}

VaeDecoder::VaeDecoder(std::shared_ptr<Backend> backend, const TaesdConfig& cfg, std::shared_ptr<WeightSource> weights,
                       int lh, int lw, int tile_latent)
    : VaeDecoder(
          std::move(backend),
          [cfg, weights](int h, int w) {
            const TaesdGraph net = build_taesd_decoder(cfg, *weights, h, w);
            return VaeDecoderGraph{net.graph, net.input, net.output};
          },
          cfg.downscale(), cfg.latent_channels, true, lh, lw, tile_latent) {}

VaeDecoder::VaeDecoder(std::shared_ptr<Backend> backend, Build build, int scale, int latent_channels, bool taesd,
                       int lh, int lw, int tile_latent)
    : backend_(std::move(backend)),
      build_(std::move(build)),
      scale_(scale),
      latent_channels_(latent_channels),
      taesd_(taesd),
      lh_(lh),
      lw_(lw),
      tile_(tile_latent) {
  if (tile_ >= std::max(lh, lw)) tile_ = 0;
  if (tile_latent == 0 && !fits(lh, lw)) {
    for (int t : {64, 48, 32, 24, 16, 8, 4})
      if (t < std::max(lh, lw) && fits(std::min(t, lh), std::min(t, lw))) {
        tile_ = t;
        break;
      }
    if (!tile_)
      throw Error(ErrorCode::kUnsupported, std::string(taesd_ ? "the TAESD decoder" : "the VAE decoder") +
                                               " does not fit this device even in 4-latent tiles (largest tensor or "
                                               "arena above its limits)");
  }
}

// Whether the decoder for h x w latents fits the backend: every tensor within one binding, the arena within one
// buffer (planned as the backend will, less its kernels' scratch).
bool VaeDecoder::fits(int h, int w) const {
  const auto net = build_(h, w);
  uint64_t largest = 0;
  for (const Node& n : net.graph->nodes())
    if (n.op != Op::kWeight) largest = std::max<uint64_t>(largest, uint64_t(n.shape.numel()) * dtype_size(n.dtype));
  if (largest > backend_->max_tensor_bytes()) return false;
  return plan_memory(*net.graph, [](const Node&) { return size_t(0); }).arena_bytes <= backend_->max_arena_bytes();
}

VaeDecoder::Compiled& VaeDecoder::compiled(int h, int w) {
  Compiled& c = compiled_[{h, w}];
  if (!c.exe) {
    c.net = build_(h, w);
    c.exe = backend_->compile(c.net.graph);
  }
  return c;
}

std::vector<float> VaeDecoder::run(Compiled& c, const std::vector<float>& z, const std::atomic<bool>* cancel) {
  c.exe->set_input(c.net.latents, z.data());
  c.exe->run(cancel);
  std::vector<float> out(size_t(c.net.graph->shape(c.net.image).numel()));
  c.exe->read(c.net.image, out.data());
  return out;
}

std::vector<float> VaeDecoder::decode(const std::vector<float>& z, const std::atomic<bool>* cancel) {
  if (!taesd_) return decode_tiles(z, cancel);
  // DecoderTiny clamps its input and draws in [0, 1]; both are element-wise, so tiles do not change them.
  std::vector<float> clamped = z;
  taesd_clamp(clamped);
  std::vector<float> out = decode_tiles(clamped, cancel);
  for (float& v : out) v = v * 2.0f - 1.0f;
  return out;
}

std::vector<float> VaeDecoder::decode_tiles(const std::vector<float>& z, const std::atomic<bool>* cancel) {
  if (!tile_) return run(compiled(lh_, lw_), z, cancel);
  // As diffusers: tiles of `tile_` latents every `stride`, decoded, blended over `blend` pixels with the tile
  // above and the one to the left (in this order, in place), then cropped to `keep` pixels and put side by side.
  const int scale = scale_, lc = latent_channels_;
  const int stride = int(float(tile_) * (1 - kOverlap));
  const int tile_px = tile_ * scale, blend = int(float(tile_px) * kOverlap), keep = tile_px - blend;
  struct Tile {
    std::vector<float> rgb;
    int h, w;  // pixels
  };
  std::vector<std::vector<Tile>> rows;
  for (int i = 0; i < lh_; i += stride) {
    std::vector<Tile>& row = rows.emplace_back();
    for (int j = 0; j < lw_; j += stride) {
      const int th = std::min(tile_, lh_ - i), tw = std::min(tile_, lw_ - j);
      std::vector<float> part(size_t(lc) * th * tw);
      for (int c = 0; c < lc; ++c)
        for (int y = 0; y < th; ++y)
          std::copy_n(z.data() + (size_t(c) * lh_ + size_t(i + y)) * lw_ + j, tw,
                      part.data() + (size_t(c) * th + size_t(y)) * tw);
      row.push_back({run(compiled(th, tw), part, cancel), th * scale, tw * scale});
    }
  }
  for (size_t i = 0; i < rows.size(); ++i)
    for (size_t j = 0; j < rows[i].size(); ++j) {
      Tile& t = rows[i][j];
      if (i > 0) blend_rows(rows[i - 1][j].rgb, rows[i - 1][j].h, t.rgb, t.h, t.w, blend);
      if (j > 0) blend_columns(rows[i][j - 1].rgb, rows[i][j - 1].w, t.rgb, t.w, t.h, blend);
    }
  const int H = lh_ * scale, W = lw_ * scale;
  std::vector<float> out(size_t(3) * H * W);
  int y0 = 0;
  for (const auto& row : rows) {
    const int rh = std::min(keep, row.front().h);
    int x0 = 0;
    for (const Tile& t : row) {
      const int rw = std::min(keep, t.w);
      for (int c = 0; c < 3; ++c)
        for (int y = 0; y < rh && y0 + y < H; ++y)
          std::copy_n(t.rgb.data() + (size_t(c) * t.h + size_t(y)) * t.w, std::min(rw, W - x0),
                      out.data() + (size_t(c) * H + size_t(y0 + y)) * W + x0);
      x0 += rw;
    }
    y0 += rh;
  }
  return out;
}

}  // namespace websd
