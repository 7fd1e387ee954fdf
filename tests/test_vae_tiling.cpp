// The VAE decoder in tiles (pipeline/vae_decode): whole when it fits, tiles chosen when the backend's limits say
// the whole decode does not, and tiles assembled as diffusers' tiled_decode assembles them.
#include <gtest/gtest.h>

#include <cmath>

#include "backends/cpu/cpu_backend.h"
#include "core/error.h"
#include "fixtures.h"
#include "io/pipeline_folder.h"
#include "pipeline/vae_decode.h"

namespace websd {
namespace {

// The cpu backend with a device's limits on top.
class LimitedBackend final : public Backend {
 public:
  LimitedBackend(uint64_t max_tensor) : inner_(make_cpu_backend()), max_tensor_(max_tensor) {}
  std::string name() const override { return "limited " + inner_->name(); }
  std::unique_ptr<Executable> compile(std::shared_ptr<const Graph> g) override { return inner_->compile(std::move(g)); }
  uint64_t max_tensor_bytes() const override { return max_tensor_; }

 private:
  std::shared_ptr<Backend> inner_;
  uint64_t max_tensor_;
};

struct Vae {
  VaeConfig cfg;
  std::shared_ptr<WeightSource> weights;
};

Vae tiny_vae() {
  auto folder = PipelineFolder::open(test::fixture("tiny-sd1/model"));
  return {VaeConfig::from(folder.config("vae")), folder.weights("vae")};
}

std::vector<float> latents(int c, int h, int w) {
  std::vector<float> z(size_t(c) * h * w);
  for (size_t i = 0; i < z.size(); ++i) z[i] = std::sin(0.37f * float(i)) * 1.5f;
  return z;
}

TEST(VaeTiling, WholeWhenItFits) {
  const Vae v = tiny_vae();
  std::shared_ptr<Backend> cpu = make_cpu_backend();
  VaeDecoder whole(cpu, v.cfg, v.weights, 8, 8);
  EXPECT_EQ(whole.tile_latent(), 0);
  const auto z = latents(v.cfg.latent_channels, 8, 8);
  auto net = build_vae_decoder(v.cfg, *v.weights, 1, 8, 8);
  auto exe = cpu->compile(net.graph);
  exe->set_input(net.latents, z.data());
  exe->run();
  std::vector<float> direct(size_t(net.graph->shape(net.image).numel()));
  exe->read(net.image, direct.data());
  EXPECT_EQ(whole.decode(z), direct);
}

TEST(VaeTiling, TilesWhenATensorExceedsTheLimit) {
  const Vae v = tiny_vae();
  // Half the largest tensor of the whole 8x8 decode: the decoder must go to tiles, and say which.
  auto net = build_vae_decoder(v.cfg, *v.weights, 1, 8, 8);
  uint64_t largest = 0;
  for (const Node& n : net.graph->nodes())
    if (n.op != Op::kWeight) largest = std::max<uint64_t>(largest, uint64_t(n.shape.numel()) * 4);
  VaeDecoder tiled(std::make_shared<LimitedBackend>(largest / 2), v.cfg, v.weights, 8, 8);
  EXPECT_GT(tiled.tile_latent(), 0);
  EXPECT_LT(tiled.tile_latent(), 8);
  EXPECT_THROW(VaeDecoder decoder(std::make_shared<LimitedBackend>(16), v.cfg, v.weights, 8, 8), Error);
}

// 8x8 latents in 4-latent tiles (32 pixels): tiles start every 3 latents, blend over 8 pixels and keep 24, as
// diffusers computes with tile_overlap_factor 0.25. The top-left 24x24 pixels are the first tile's own; the next
// 24 columns of the top rows are the second tile's, its first 8 faded in from the first tile's last 8
// (diffusers' blend_h: a * (1 - x/8) + b * x/8).
TEST(VaeTiling, AssemblesTilesAsDiffusers) {
  const Vae v = tiny_vae();
  std::shared_ptr<Backend> cpu = make_cpu_backend();
  const int lc = v.cfg.latent_channels;
  const auto z = latents(lc, 8, 8);
  VaeDecoder tiled(cpu, v.cfg, v.weights, 8, 8, /*tile_latent=*/4);
  ASSERT_EQ(tiled.tile_latent(), 4);
  const std::vector<float> image = tiled.decode(z);
  ASSERT_EQ(image.size(), size_t(3 * 64 * 64));

  std::vector<float> corner(size_t(lc) * 16);
  for (int c = 0; c < lc; ++c)
    for (int y = 0; y < 4; ++y)
      for (int x = 0; x < 4; ++x) corner[size_t((c * 4 + y) * 4 + x)] = z[size_t((c * 8 + y) * 8 + x)];
  auto tile_at = [&](int i, int j) {
    std::vector<float> part(size_t(lc) * 16);
    for (int c = 0; c < lc; ++c)
      for (int y = 0; y < 4; ++y)
        for (int x = 0; x < 4; ++x) part[size_t((c * 4 + y) * 4 + x)] = z[size_t((c * 8 + i + y) * 8 + j + x)];
    return VaeDecoder(cpu, v.cfg, v.weights, 4, 4).decode(part);
  };
  const std::vector<float> first = tile_at(0, 0), second = tile_at(0, 3);
  auto at = [](const std::vector<float>& t, int side, int c, int y, int x) { return t[size_t((c * side + y) * side + x)]; };
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < 24; ++y) {
      for (int x = 0; x < 24; ++x) ASSERT_EQ(at(image, 64, c, y, x), at(first, 32, c, y, x)) << c << " " << y << " " << x;
      for (int x = 0; x < 24; ++x) {
        const float t = float(x) / 8.0f;
        const float want = x < 8 ? at(first, 32, c, y, 24 + x) * (1 - t) + at(second, 32, c, y, x) * t : at(second, 32, c, y, x);
        ASSERT_EQ(at(image, 64, c, y, 24 + x), want) << c << " " << y << " " << x;
      }
    }
  // Not a parity bound (group norms see one tile, not the image): how far tiles move this random VAE.
  const std::vector<float> whole = VaeDecoder(cpu, v.cfg, v.weights, 8, 8).decode(z);
  double sum = 0;
  for (size_t i = 0; i < whole.size(); ++i) sum += std::fabs(double(whole[i]) - double(image[i]));
  std::printf("  4-latent tiles vs the whole decode: mean abs difference %.4f\n", sum / double(whole.size()));
}

}  // namespace
}  // namespace websd
