#include "models/taesd.h"

#include <cmath>
#include <string>

#include "core/error.h"
#include "io/pipeline_folder.h"
#include "models/module_builder.h"

namespace websd {

TaesdConfig TaesdConfig::from(const Config& c) {
  c.require_one_of("act_fn", {"relu"});
  c.require_one_of("upsample_fn", {"nearest"});
  TaesdConfig t;
  t.in_channels = c.get_int("in_channels", 3);
  t.out_channels = c.get_int("out_channels", 3);
  t.latent_channels = c.get_int("latent_channels", 4);
  if (c.has("encoder_block_out_channels")) t.encoder_block_out_channels = c.get_ints("encoder_block_out_channels");
  if (c.has("decoder_block_out_channels")) t.decoder_block_out_channels = c.get_ints("decoder_block_out_channels");
  if (c.has("num_encoder_blocks")) t.num_encoder_blocks = c.get_ints("num_encoder_blocks");
  if (c.has("num_decoder_blocks")) t.num_decoder_blocks = c.get_ints("num_decoder_blocks");
  t.upsampling_scaling_factor = c.get_int("upsampling_scaling_factor", 2);
  t.scaling_factor = float(c.get_number("scaling_factor", 1.0));
  t.shift_factor = float(c.get_number("shift_factor", 0.0));
  if (t.encoder_block_out_channels.size() != t.num_encoder_blocks.size() || t.num_encoder_blocks.empty())
    c.invalid("num_encoder_blocks", "needs one entry per encoder_block_out_channels entry");
  if (t.decoder_block_out_channels.size() != t.num_decoder_blocks.size() || t.num_decoder_blocks.empty())
    c.invalid("num_decoder_blocks", "needs one entry per decoder_block_out_channels entry");
  if (t.upsampling_scaling_factor != 2)
    c.unsupported("upsampling_scaling_factor", "websd builds 2 (the encoder halves the size per stage)");
  if (t.num_encoder_blocks.size() != t.num_decoder_blocks.size())
    c.invalid("num_decoder_blocks", "the encoder and the decoder must have as many stages");
  return t;
}

TaesdModel TaesdModel::open(const std::string& dir) {
  const Config config = Config::load(dir + "/config.json");
  const std::string cls = config.get_string("_class_name", "");
  if (cls != "AutoencoderTiny")
    throw Error(ErrorCode::kUnsupported,
                dir + ": _class_name is " + (cls.empty() ? std::string("missing") : cls) +
                    ", not AutoencoderTiny (TAESD): give a TAESD folder such as madebyollin/taesd (SD 1.x/2.x) or "
                    "madebyollin/taesdxl (SDXL)");
  std::vector<SafetensorsFile> files;
  for (const std::string& f : find_weight_files(dir)) files.push_back(SafetensorsFile::open(f));
  return {TaesdConfig::from(config), std::make_shared<SafetensorsWeights>(std::move(files))};
}

int TaesdConfig::downscale() const { return 1 << (num_decoder_blocks.size() - 1); }

void taesd_clamp(std::vector<float>& z) {
  for (float& v : z) v = std::tanh(v / 3.0f) * 3.0f;
}

namespace {

struct TaesdBuilder : ModuleBuilder {
  TensorId conv3(const std::string& name, TensorId x, int64_t out, bool bias, int stride = 1) {
    TensorId wt = param(name + ".weight", Shape{out, channels(x), 3, 3});
    return ops::conv2d(g, x, wt, bias ? param(name + ".bias", Shape{out}) : -1, stride, 1);
  }
  // AutoencoderTinyBlock with in = out channels: relu(conv(relu(conv(relu(conv(x))))) + x).
  TensorId block(const std::string& name, TensorId x) {
    const int64_t c = channels(x);
    TensorId h = ops::relu(g, conv3(name + ".conv.0", x, c, true));
    h = ops::relu(g, conv3(name + ".conv.2", h, c, true));
    TensorId wt = param(name + ".conv.4.weight", Shape{c, c, 3, 3});
    return ops::relu(g, ops::conv2d(g, h, wt, param(name + ".conv.4.bias", Shape{c}), 1, 1, -1, x));
  }
};

}  // namespace

TaesdGraph build_taesd_decoder(const TaesdConfig& cfg, const WeightSource& weights, int latent_h, int latent_w) {
  auto graph = std::make_shared<Graph>();
  TaesdBuilder b{{*graph, weights}};
  TaesdGraph out{graph, graph->input("latents", Shape{1, cfg.latent_channels, latent_h, latent_w}), -1};
  // The layers as DecoderTiny numbers them: conv, relu, then per stage its blocks, an upsample (not after the
  // last) and a conv (no bias; the last one has one and gives the image).
  int layer = 0;
  auto name = [&] { return "decoder.layers." + std::to_string(layer++); };
  TensorId x = ops::relu(*graph, b.conv3(name(), out.input, cfg.decoder_block_out_channels[0], true));
  ++layer;  // the relu
  const size_t stages = cfg.num_decoder_blocks.size();
  for (size_t i = 0; i < stages; ++i) {
    const bool last = i + 1 == stages;
    const int64_t c = cfg.decoder_block_out_channels[i];
    if (b.channels(x) != c)
      throw Error(ErrorCode::kUnsupported, weights.where() + ": AutoencoderTiny decoder stages of different widths "
                                                             "(a block with a 1x1 skip convolution) are not built");
    for (int k = 0; k < cfg.num_decoder_blocks[i]; ++k) x = b.block(name(), x);
    if (!last) {
      const Shape& s = graph->shape(x);
      x = ops::upsample(*graph, x, s[2] * 2, s[3] * 2);
      ++layer;
    }
    x = b.conv3(name(), x, last ? cfg.out_channels : c, last);
  }
  out.output = x;
  graph->mark_output(x, "image");
  return out;
}

TaesdGraph build_taesd_encoder(const TaesdConfig& cfg, const WeightSource& weights, int height, int width) {
  auto graph = std::make_shared<Graph>();
  TaesdBuilder b{{*graph, weights}};
  TaesdGraph out{graph, graph->input("image", Shape{1, cfg.in_channels, height, width}), -1};
  // EncoderTiny: per stage a conv (the first 3x3 with bias, the others stride 2 without), then its blocks; a
  // final conv to the latents.
  int layer = 0;
  auto name = [&] { return "encoder.layers." + std::to_string(layer++); };
  TensorId x = out.input;
  for (size_t i = 0; i < cfg.num_encoder_blocks.size(); ++i) {
    const int64_t c = cfg.encoder_block_out_channels[i];
    if (i > 0 && b.channels(x) != c)
      throw Error(ErrorCode::kUnsupported, weights.where() + ": AutoencoderTiny encoder stages of different widths "
                                                             "(a block with a 1x1 skip convolution) are not built");
    x = i == 0 ? b.conv3(name(), x, c, true) : b.conv3(name(), x, c, false, 2);
    for (int k = 0; k < cfg.num_encoder_blocks[i]; ++k) x = b.block(name(), x);
  }
  out.output = b.conv3(name(), x, cfg.latent_channels, true);
  graph->mark_output(out.output, "latents");
  return out;
}

}  // namespace websd
