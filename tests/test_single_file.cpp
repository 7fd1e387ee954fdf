// Single-file (CompVis/LDM) checkpoints. There are no such fixtures, so the tests write them: the
// tiny-sd1/sd2 pipeline folders, renamed to the original layout by an inverse mapping written here
// independently of src/io/ldm_names.cpp (OpenCLIP's fused q/k/v plus a last resblock that must be dropped;
// 1×1-conv VAE attention), then opened through open_model_source and compared with the folder they came from,
// tensor by tensor and output by output.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <regex>

#include "backends/cpu/cpu_backend.h"
#include "core/error.h"
#include "fixtures.h"
#include "image_runs.h"
#include "io/ldm_names.h"
#include "io/model_source.h"
#include "io/pipeline_folder.h"
#include "io/safetensors.h"
#include "io/safetensors_writer.h"
#include "models/clip_text_encoder.h"
#include "models/unet.h"
#include "models/vae.h"
#include "pipeline/stable_diffusion.h"

namespace websd {
namespace {
namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = fs::temp_directory_path() / ("websd_single_file_" + std::to_string(rd()) + std::to_string(rd()));
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

struct Stored {
  DType dtype;
  Shape shape;
  std::vector<uint8_t> bytes;
};
using Checkpoint = std::map<std::string, Stored>;

Stored stored(const TensorView& t) {
  const auto* p = static_cast<const uint8_t*>(t.data);
  return Stored{t.dtype, t.shape, std::vector<uint8_t>(p, p + t.nbytes)};
}

void write(const std::string& path, const Checkpoint& ckpt,
           const std::map<std::string, std::string>& meta = {}) {
  std::vector<TensorToWrite> list;
  for (const auto& [name, s] : ckpt) list.push_back({name, s.dtype, s.shape, s.bytes.data()});
  write_safetensors(path, list, meta);
}

// ---- the inverse mapping: diffusers → LDM ----

std::string sub(const std::string& s, const std::string& re, const std::string& fmt) {
  return std::regex_replace(s, std::regex(re), fmt);
}

std::string ldm_unet(const std::string& n, const Config& cfg) {
  const int L = cfg.get_int("layers_per_block");
  const auto up_types = cfg.get_strings("up_block_types");
  std::smatch m;
  auto resnet = [](std::string r) {
    for (auto [from, to] : {std::pair{"norm1", "in_layers.0"},
                            {"conv1", "in_layers.2"},
                            {"time_emb_proj", "emb_layers.1"},
                            {"norm2", "out_layers.0"},
                            {"conv2", "out_layers.3"},
                            {"conv_shortcut", "skip_connection"}})
      if (r.starts_with(std::string(from) + ".")) return to + r.substr(std::strlen(from));
    ADD_FAILURE() << "resnet tensor " << r;
    return r;
  };
  auto num = [&](int i) { return std::stoi(m[size_t(i)]); };
  const std::string P = "model.diffusion_model.";
  if (std::regex_match(n, m, std::regex(R"(down_blocks\.(\d+)\.resnets\.(\d+)\.(.*))")))
    return P + "input_blocks." + std::to_string(1 + num(1) * (L + 1) + num(2)) + ".0." + resnet(m[3]);
  if (std::regex_match(n, m, std::regex(R"(down_blocks\.(\d+)\.attentions\.(\d+)\.(.*))")))
    return P + "input_blocks." + std::to_string(1 + num(1) * (L + 1) + num(2)) + ".1." + m[3].str();
  if (std::regex_match(n, m, std::regex(R"(down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.*))")))
    return P + "input_blocks." + std::to_string((num(1) + 1) * (L + 1)) + ".0.op." + m[2].str();
  if (std::regex_match(n, m, std::regex(R"(up_blocks\.(\d+)\.resnets\.(\d+)\.(.*))")))
    return P + "output_blocks." + std::to_string(num(1) * (L + 1) + num(2)) + ".0." + resnet(m[3]);
  if (std::regex_match(n, m, std::regex(R"(up_blocks\.(\d+)\.attentions\.(\d+)\.(.*))")))
    return P + "output_blocks." + std::to_string(num(1) * (L + 1) + num(2)) + ".1." + m[3].str();
  if (std::regex_match(n, m, std::regex(R"(up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.*))"))) {
    const bool attn = up_types[size_t(num(1))] == "CrossAttnUpBlock2D";
    return P + "output_blocks." + std::to_string(num(1) * (L + 1) + L) + (attn ? ".2" : ".1") + ".conv." +
           m[2].str();
  }
  if (std::regex_match(n, m, std::regex(R"(mid_block\.resnets\.([01])\.(.*))")))
    return P + "middle_block." + (m[1] == "0" ? "0." : "2.") + resnet(m[2]);
  std::string s = sub(n, R"(^mid_block\.attentions\.0\.)", "middle_block.1.");
  s = sub(s, R"(^conv_in\.)", "input_blocks.0.0.");
  s = sub(s, R"(^time_embedding\.linear_1\.)", "time_embed.0.");
  s = sub(s, R"(^time_embedding\.linear_2\.)", "time_embed.2.");
  s = sub(s, R"(^conv_norm_out\.)", "out.0.");
  s = sub(s, R"(^conv_out\.)", "out.2.");
  return P + s;
}

// VAE attention weights go back to the 1×1 convolutions LDM stores (unless `linear_attention`).
std::string ldm_vae(const std::string& n, int levels, Stored& t, bool linear_attention) {
  std::smatch m;
  std::string s = n;
  if (std::regex_match(n, m, std::regex(R"(decoder\.up_blocks\.(\d+)\.(.*))")))
    s = "decoder.up." + std::to_string(levels - 1 - std::stoi(m[1])) + "." + m[2].str();
  s = sub(s, R"(^encoder\.down_blocks\.)", "encoder.down.");
  s = sub(s, R"(\.resnets\.(\d+)\.conv_shortcut\.)", ".resnets.$1.nin_shortcut.");
  s = sub(s, R"(^(encoder\.down\.\d+|decoder\.up\.\d+)\.resnets\.)", "$1.block.");
  s = sub(s, R"(\.downsamplers\.0\.)", ".downsample.");
  s = sub(s, R"(\.upsamplers\.0\.)", ".upsample.");
  s = sub(s, R"(\.mid_block\.resnets\.0\.)", ".mid.block_1.");
  s = sub(s, R"(\.mid_block\.resnets\.1\.)", ".mid.block_2.");
  s = sub(s, R"(\.conv_norm_out\.)", ".norm_out.");
  if (std::regex_match(
          s, m,
          std::regex(R"((\w+)\.mid_block\.attentions\.0\.(group_norm|to_q|to_k|to_v|to_out\.0)\.(\w+))"))) {
    const std::map<std::string, std::string> names{
        {"group_norm", "norm"}, {"to_q", "q"}, {"to_k", "k"}, {"to_v", "v"}, {"to_out.0", "proj_out"}};
    if (m[2] != "group_norm" && m[3] == "weight" && !linear_attention)
      t.shape.dims.insert(t.shape.dims.end(), {1, 1});
    s = m[1].str() + ".mid.attn_1." + names.at(m[2]) + "." + m[3].str();
  }
  return "first_stage_model." + s;
}

// OpenCLIP: rename, fuse q/k/v into in_proj, add a last resblock (SD 2 never runs it) and the unused extras.
void add_open_clip(Checkpoint& out, const SafetensorsFile& te, int layers) {
  const std::string P = "cond_stage_model.model.";
  for (const auto& [n, t] : te.tensors()) {
    std::smatch m;
    if (std::regex_match(n, m, std::regex(R"(encoder\.layers\.(\d+)\.self_attn\.([qkv])_proj\.(\w+))"))) {
      if (m[2] != "q") continue;
      const std::string layer = "encoder.layers." + m[1].str() + ".self_attn.";
      const std::string fused = P + "transformer.resblocks." + m[1].str() + ".attn.in_proj_" + m[3].str();
      Stored s = stored(t);
      s.shape.dims[0] *= 3;
      for (const char* kv : {"k", "v"}) {
        const TensorView& part = te.get(layer + kv + "_proj." + m[3].str());
        const auto* p = static_cast<const uint8_t*>(part.data);
        s.bytes.insert(s.bytes.end(), p, p + part.nbytes);
      }
      out[fused] = s;
      continue;
    }
    std::string s = sub(n, R"(^encoder\.layers\.)", "transformer.resblocks.");
    s = sub(s, R"(\.layer_norm1\.)", ".ln_1.");
    s = sub(s, R"(\.layer_norm2\.)", ".ln_2.");
    s = sub(s, R"(\.self_attn\.out_proj\.)", ".attn.out_proj.");
    s = sub(s, R"(\.mlp\.fc1\.)", ".mlp.c_fc.");
    s = sub(s, R"(\.mlp\.fc2\.)", ".mlp.c_proj.");
    s = sub(s, R"(^final_layer_norm\.)", "ln_final.");
    s = sub(s, R"(^embeddings\.token_embedding\.weight$)", "token_embedding.weight");
    s = sub(s, R"(^embeddings\.position_embedding\.weight$)", "positional_embedding");
    out[P + s] = stored(t);
  }
  // The extra resblock: a copy of the last one with different values.
  const std::string last = P + "transformer.resblocks." + std::to_string(layers - 1) + ".";
  std::vector<std::pair<std::string, Stored>> extra;
  for (const auto& [n, s] : out)
    if (n.starts_with(last)) {
      Stored copy = s;
      for (auto& b : copy.bytes) b ^= 0x5a;
      extra.emplace_back(P + "transformer.resblocks." + std::to_string(layers) + "." + n.substr(last.size()),
                         copy);
    }
  for (auto& [n, s] : extra) out[n] = s;
  const int64_t D = te.get("final_layer_norm.weight").shape[0];
  out[P + "text_projection"] = Stored{DType::kF16, Shape{D, 16}, std::vector<uint8_t>(size_t(D) * 16 * 2, 0)};
  out[P + "logit_scale"] = Stored{DType::kF32, Shape{}, std::vector<uint8_t>(4, 0)};
}

struct Variant {
  const char* name;
  const char* model;
  bool text_model_prefix;  // SD 1.x: cond_stage_model.transformer.text_model.* (real files) or without
  bool linear_attention;   // VAE attention stored as [C, C] instead of [C, C, 1, 1]
};

void PrintTo(const Variant& v, std::ostream* os) {
  *os << v.name;
}

Checkpoint make_ldm_checkpoint(const Variant& v) {
  const std::string dir = test::fixture(std::string(v.model) + "/model");
  auto folder = PipelineFolder::open(dir);
  Checkpoint out;
  auto unet = SafetensorsFile::open(find_weight_files(folder.component_dir("unet")).at(0));
  const Config unet_cfg = folder.config("unet");
  for (const auto& [n, t] : unet.tensors()) out[ldm_unet(n, unet_cfg)] = stored(t);
  auto vae = SafetensorsFile::open(find_weight_files(folder.component_dir("vae")).at(0));
  const int levels = int(folder.config("vae").get_ints("block_out_channels").size());
  for (const auto& [n, t] : vae.tensors()) {
    Stored s = stored(t);
    const std::string name = ldm_vae(n, levels, s, v.linear_attention);
    out[name] = s;
  }
  auto te = SafetensorsFile::open(find_weight_files(folder.component_dir("text_encoder")).at(0));
  const Config te_cfg = folder.config("text_encoder");
  if (te_cfg.get_string("hidden_act", "") == "gelu") {
    add_open_clip(out, te, te_cfg.get_int("num_hidden_layers"));
  } else {
    const std::string P =
        std::string("cond_stage_model.transformer.") + (v.text_model_prefix ? "text_model." : "");
    for (const auto& [n, t] : te.tensors()) out[P + n] = stored(t);
    std::vector<uint8_t> ids(77 * 8, 0);
    for (int64_t i = 0; i < 77; ++i) std::memcpy(ids.data() + i * 8, &i, 8);
    out[P + "embeddings.position_ids"] = Stored{DType::kI64, Shape{1, 77}, ids};
  }
  // What real checkpoints carry besides the networks.
  out["alphas_cumprod"] = Stored{DType::kF32, Shape{1000}, std::vector<uint8_t>(4000, 0)};
  out["model_ema.decay"] = Stored{DType::kF32, Shape{}, std::vector<uint8_t>(4, 0)};
  return out;
}

class SingleFile : public testing::TestWithParam<Variant> {
 protected:
  void SetUp() override {
    folder_ = std::make_unique<PipelineFolder>(PipelineFolder::open(fixture_dir()));
    path_ = tmp_.file(std::string(GetParam().name) + ".safetensors");
    write(path_, make_ldm_checkpoint(GetParam()));
    source_ = open_model_source(path_, {folder_->component_dir("tokenizer")});
  }
  std::string fixture_dir() const { return test::fixture(std::string(GetParam().model) + "/model"); }

  TempDir tmp_;
  std::string path_;
  std::unique_ptr<PipelineFolder> folder_;
  std::unique_ptr<ModelSource> source_;
};

// (a) Every tensor of the folder, and nothing else, is served under its diffusers name with the folder's
// bytes, from inside the mapped checkpoint (no copies).
TEST_P(SingleFile, EveryTensorMapsToTheFoldersBytes) {
  for (const char* c : {"unet", "vae", "text_encoder"}) {
    auto weights = source_->weights(c);
    const auto* mapped = dynamic_cast<const MappedWeights*>(weights.get());
    ASSERT_NE(mapped, nullptr);
    auto folder_file = SafetensorsFile::open(find_weight_files(folder_->component_dir(c)).at(0));
    EXPECT_EQ(mapped->tensors().size(), folder_file.tensors().size()) << c;
    for (const auto& [name, t] : folder_file.tensors()) {
      ASSERT_TRUE(weights->contains(name)) << c << ": " << name;
      const WeightData w = weights->get(name, t.shape);
      ASSERT_EQ(w.dtype, t.dtype) << name;
      EXPECT_EQ(std::memcmp(w.data, t.data, t.nbytes), 0) << c << ": " << name << " (from " << w.name << ")";
      auto file = std::static_pointer_cast<const MappedFile>(w.owner);
      ASSERT_EQ(file->path(), path_);
      const auto* p = static_cast<const uint8_t*>(w.data);
      EXPECT_TRUE(p >= file->data() && p + t.nbytes <= file->data() + file->size()) << name << " was copied";
    }
  }
}

// (b) Every value the shapes determine equals the folder's config.json.
TEST_P(SingleFile, DerivedConfigsMatchTheFolder) {
  EXPECT_EQ(source_->pipeline_class(), "StableDiffusionPipeline");
  for (const char* c : {"text_encoder", "tokenizer", "unet", "vae", "scheduler"})
    EXPECT_TRUE(source_->has_component(c));
  auto expect_same = [&](const char* component, std::initializer_list<const char*> keys) {
    const Config mine = source_->config(component), theirs = folder_->config(component);
    EXPECT_EQ(mine.path(), path_);
    for (const char* k : keys)
      EXPECT_EQ(mine.json().value(k, nlohmann::json()), theirs.json()[k]) << component << "." << k;
  };
  expect_same("unet", {"in_channels", "out_channels", "block_out_channels", "layers_per_block",
                       "cross_attention_dim", "use_linear_projection", "transformer_layers_per_block",
                       "down_block_types", "up_block_types", "mid_block_type", "upcast_attention"});
  expect_same("vae", {"in_channels", "out_channels", "latent_channels", "block_out_channels",
                      "layers_per_block", "down_block_types", "up_block_types", "mid_block_add_attention",
                      "use_quant_conv", "use_post_quant_conv", "scaling_factor"});
  expect_same("text_encoder", {"vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
                               "max_position_embeddings", "hidden_act", "eos_token_id"});
  // The scheduler is the SD 1.5 one, with the family's prediction type: all of it matches the fixtures.
  nlohmann::json sched = folder_->config("scheduler").json();
  sched.erase("_diffusers_version");
  EXPECT_EQ(source_->config("scheduler").json(), sched);
  // The guessed values make valid configs too.
  EXPECT_NO_THROW(UNetConfig::from(source_->config("unet")));
  EXPECT_NO_THROW(VaeConfig::from(source_->config("vae")));
  EXPECT_NO_THROW(ClipTextConfig::from(source_->config("text_encoder")));
  if (std::string(GetParam().model) == "tiny-sd1")  // SD 1.x's 8 heads are the fixture's too
    EXPECT_EQ(source_->config("unet").json()["attention_head_dim"],
              folder_->config("unet").json()["attention_head_dim"]);
  EXPECT_EQ(source_->tokenizer_dir("tokenizer"), folder_->component_dir("tokenizer"));
}

std::vector<float> run(const std::shared_ptr<Graph>& graph, TensorId out,
                       std::initializer_list<std::pair<TensorId, const void*>> inputs) {
  auto exe = make_cpu_backend()->compile(graph);
  for (auto [id, data] : inputs) exe->set_input(id, data);
  exe->run();
  std::vector<float> result(size_t(graph->shape(out).numel()));
  exe->read(out, result.data());
  return result;
}

void expect_identical(const std::vector<float>& a, const std::vector<float>& b, const char* what) {
  ASSERT_EQ(a.size(), b.size());
  EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0)
      << what << ": max abs difference " << test::max_abs_diff(a, b);
}

// (c) The networks built from the single file compute bit-identical outputs to the folder's.
TEST_P(SingleFile, NetworksMatchTheFolderBitForBit) {
  auto ref = SafetensorsFile::open(test::fixture(std::string(GetParam().model) + "/reference.safetensors"));
  auto input = [&](const char* k) { return ref.get(k).to_f32(); };
  std::vector<std::vector<float>> outs;
  for (const ModelSource* src : std::vector<const ModelSource*>{source_.get(), nullptr}) {  // then the folder
    auto weights = [&](const char* c) -> std::shared_ptr<WeightSource> {
      return src ? src->weights(c) : std::shared_ptr<WeightSource>(folder_->weights(c));
    };
    std::vector<float> all;
    {
      auto w = weights("text_encoder");
      auto net = build_clip_text_encoder(ClipTextConfig::from(folder_->config("text_encoder")), *w, 1);
      auto o = run(net.graph, net.last_hidden, {{net.ids, ref.get("prompt_ids").data}});
      all.insert(all.end(), o.begin(), o.end());
    }
    {
      auto w = weights("unet");
      const UNetConfig cfg = UNetConfig::from(folder_->config("unet"));
      const Shape in = ref.get("unet_in").shape;
      auto net = build_unet(cfg, *w, int(in[0]), int(in[2]), int(in[3]));
      std::vector<float> tp(size_t(in[0] * cfg.block_out_channels[0]));
      for (int64_t b = 0; b < in[0]; ++b)
        unet_time_features(cfg, 981.0f, tp.data() + b * cfg.block_out_channels[0]);
      auto sample = input("unet_in"), ctx = input("unet_ctx");
      auto o = run(net.graph, net.out,
                   {{net.sample, sample.data()}, {net.time_proj, tp.data()}, {net.context, ctx.data()}});
      all.insert(all.end(), o.begin(), o.end());
    }
    {
      auto w = weights("vae");
      const VaeConfig cfg = VaeConfig::from(folder_->config("vae"));
      const Shape zs = ref.get("vae_in").shape, xs = ref.get("vae_enc_in").shape;
      auto dec = build_vae_decoder(cfg, *w, int(zs[0]), int(zs[2]), int(zs[3]));
      auto z = input("vae_in");
      auto o = run(dec.graph, dec.image, {{dec.latents, z.data()}});
      all.insert(all.end(), o.begin(), o.end());
      auto enc = build_vae_encoder(cfg, *w, int(xs[0]), int(xs[2]), int(xs[3]));
      auto x = input("vae_enc_in");
      o = run(enc.graph, enc.moments, {{enc.image, x.data()}});
      all.insert(all.end(), o.begin(), o.end());
    }
    outs.push_back(std::move(all));
  }
  expect_identical(outs[0], outs[1], GetParam().name);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, SingleFile,
                         testing::Values(Variant{"sd1", "tiny-sd1", true, false},
                                         Variant{"sd1_no_text_model_prefix", "tiny-sd1", false, true},
                                         Variant{"sd2_open_clip", "tiny-sd2", false, false}),
                         [](const auto& info) { return std::string(info.param.name); });

// ---- (d) what is refused, and how ----

void expect_error(const std::function<void()>& f, ErrorCode code, const std::string& path,
                  std::initializer_list<const char*> needles) {
  try {
    f();
    ADD_FAILURE() << "expected an error mentioning " << path;
  } catch (const Error& e) {
    const std::string msg = e.what();
    std::printf("  error: %s\n", msg.c_str());
    EXPECT_EQ(e.code(), code) << msg;
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
    for (const char* n : needles)
      EXPECT_NE(msg.find(n), std::string::npos) << "'" << n << "' not in: " << msg;
  }
}

Stored f16(Shape shape) {
  return Stored{DType::kF16, shape, std::vector<uint8_t>(size_t(shape.numel()) * 2, 0)};
}

TEST(SingleFileErrors, PickledCheckpoint) {
  TempDir tmp;
  const std::string path = tmp.file("model.ckpt");
  std::ofstream(path) << "PK\x03\x04 not really";
  expect_error([&] { open_model_source(path); }, ErrorCode::kUnsupported, path, {"pickle", ".safetensors"});
}

TEST(SingleFileErrors, Sdxl) {
  TempDir tmp;
  const std::string path = tmp.file("sdxl.safetensors");
  write(path, {{"conditioner.embedders.0.transformer.text_model.final_layer_norm.weight", f16({8})},
               {"model.diffusion_model.input_blocks.0.0.weight", f16({8, 4, 3, 3})},
               {"model.diffusion_model.label_emb.0.0.weight", f16({8, 8})}});
  expect_error([&] { open_model_source(path); }, ErrorCode::kUnsupported, path, {"SDXL", "websd supports"});
}

// A single-file inpainting checkpoint (its UNet takes 9 channels) is an inpainting model: tiny-inpaint written as
// one file serves the folder's 9-channel UNet, needs an image and a mask, and repaints. (Its images are not the
// folder's: a single file does not say how many heads the text encoder has, and the guess for real widths, 64-wide
// heads, is not the tiny fixture's.)
TEST(SingleFile, InpaintingCheckpointsInpaint) {
  TempDir tmp;
  const std::string path = tmp.file("inpaint.safetensors");
  write(path, make_ldm_checkpoint({"sd1-inpaint", "tiny-inpaint", true, false}));
  const std::string folder = test::fixture("tiny-inpaint/model");
  const auto source = open_model_source(path, {folder + "/tokenizer"});
  EXPECT_EQ(source->config("unet").get_int("in_channels"), 9);
  auto theirs = SafetensorsFile::open(find_weight_files(folder + "/unet").at(0));
  const TensorView& conv_in = theirs.get("conv_in.weight");
  const WeightData mine = source->weights("unet")->get("conv_in.weight", conv_in.shape);
  EXPECT_EQ(std::memcmp(mine.data, conv_in.data, conv_in.nbytes), 0);

  auto single = StableDiffusion::open(path, make_cpu_backend(), {folder + "/tokenizer"});
  EXPECT_TRUE(single->info().inpainting);
  EXPECT_EQ(single->info().family, "sd1-inpaint");
  const test::ImageRun& r = test::kImageRuns[2];
  const std::string stem = test::fixture(std::string(r.model) + "/" + r.reference);
  const nlohmann::json runs = Config::load(stem + ".json").json()["runs"];
  GenerateParams p = test::image_run_params(r, runs[r.run]["args"], SafetensorsFile::open(stem + ".safetensors"));
  const RgbImage out = single->generate(p).at(0);
  EXPECT_EQ(out.width, p.init_image.width);
  p.init_image = {};
  p.mask.clear();
  EXPECT_THROW(single->generate(p), Error);
  // Other channel counts stay refused, naming what they are.
  Checkpoint odd = make_ldm_checkpoint({"sd1", "tiny-sd1", true, false});
  Stored& in = odd.at("model.diffusion_model.input_blocks.0.0.weight");
  in = f16({in.shape[0], 8, 3, 3});
  write(path, odd);
  expect_error([&] { open_model_source(path); }, ErrorCode::kUnsupported, path, {"InstructPix2Pix", "8 input channels"});
}

TEST(SingleFileErrors, UnrelatedTensors) {
  TempDir tmp;
  const std::string path = tmp.file("other.safetensors");
  write(path, {{"backbone.layer1.weight", f16({4, 4})}, {"head.bias", f16({4})}});
  expect_error([&] { open_model_source(path); }, ErrorCode::kUnsupported, path,
               {"model.diffusion_model", "backbone.layer1.weight", "websd supports"});
}

TEST(SingleFileErrors, UnknownTensorInsideTheUNet) {
  TempDir tmp;
  const std::string path = tmp.file("odd.safetensors");
  Checkpoint ckpt = make_ldm_checkpoint({"sd1", "tiny-sd1", true, false});
  ckpt["model.diffusion_model.input_blocks.1.1.adapter.weight"] = f16({4});
  write(path, ckpt);
  expect_error([&] { open_model_source(path); }, ErrorCode::kUnsupported, path,
               {"model.diffusion_model.input_blocks.1.1.adapter.weight"});
}

TEST(SingleFileErrors, WrongShapeNamesTheStoredTensor) {
  TempDir tmp;
  const std::string path = tmp.file("sd2.safetensors");
  write(path, make_ldm_checkpoint({"sd2", "tiny-sd2", false, false}));
  auto src = open_model_source(path, {test::fixture("tiny-sd2/model")});
  expect_error(
      [&] {
        src->weights("text_encoder")->get("encoder.layers.0.self_attn.k_proj.weight", Shape{3, 3});
      },
      ErrorCode::kShapeMismatch, path, {"in_proj_weight[rows 64:128]", "[3, 3]"});
}

TEST(SingleFileErrors, MissingTokenizer) {
  TempDir tmp;
  const std::string path = tmp.file("sd1.safetensors");
  write(path, make_ldm_checkpoint({"sd1", "tiny-sd1", true, false}));
  auto src = open_model_source(path);
  expect_error([&] { src->tokenizer_dir("tokenizer"); }, ErrorCode::kNotFound, path,
               {"carry no tokenizer", "vocab.json"});
  const std::string bad = tmp.file("nowhere");
  auto src2 = open_model_source(path, {bad});
  expect_error([&] { src2->tokenizer_dir("tokenizer"); }, ErrorCode::kNotFound, bad,
               {"not a tokenizer folder"});
  // A tokenizer/ folder next to the file is found; so is one inside a pipeline folder passed as the
  // tokenizer.
  fs::create_directories(tmp.file("tokenizer"));
  EXPECT_EQ(src->tokenizer_dir("tokenizer"), tmp.file("tokenizer"));
  auto src3 = open_model_source(path, {test::fixture("tiny-sd1/model")});
  EXPECT_EQ(src3->tokenizer_dir("tokenizer"), test::fixture("tiny-sd1/model") + "/tokenizer");
}

// Files that say what they are (Stability's ModelSpec metadata) override the SD 2.x defaults.
TEST(SingleFileMetadata, ModelSpecMetadataSetsPredictionTypeAndSize) {
  TempDir tmp;
  const std::string path = tmp.file("sd2_base.safetensors");
  write(path, make_ldm_checkpoint({"sd2", "tiny-sd2", false, false}),
        {{"modelspec.prediction_type", "epsilon"}, {"modelspec.resolution", "512x512"}});
  auto src = open_model_source(path, {test::fixture("tiny-sd2/model")});
  EXPECT_EQ(src->config("scheduler").get_string("prediction_type", ""), "epsilon");
  EXPECT_EQ(src->config("unet").get_int("sample_size"), 64);
}

// ---- the writer ----

TEST(SafetensorsWriter, RoundTripsThroughTheReader) {
  TempDir tmp;
  const std::string path = tmp.file("w.safetensors");
  const std::vector<uint16_t> h{1, 2, 3};  // 6 bytes: would misalign whatever followed it
  const std::vector<float> f{1.5f, -2.0f};
  const std::vector<int64_t> l{7, -8};
  const std::vector<uint8_t> u{9};
  write_safetensors(path,
                    {{"z_half", DType::kF16, Shape{3}, h.data()},
                     {"a_float", DType::kF32, Shape{1, 2}, f.data()},
                     {"m_long", DType::kI64, Shape{2}, l.data()},
                     {"b_byte", DType::kU8, Shape{1}, u.data()},
                     {"empty", DType::kF32, Shape{0, 4}, nullptr}},
                    {{"format", "pt"}, {"note", "written by websd"}});
  EXPECT_FALSE(fs::exists(path + ".partial"));
  auto file = SafetensorsFile::open(path);
  EXPECT_EQ(file.metadata().at("note"), "written by websd");
  ASSERT_EQ(file.tensors().size(), 5u);
  EXPECT_EQ(file.get("a_float").shape, (Shape{1, 2}));
  EXPECT_EQ(file.get("a_float").to_f32(), f);
  EXPECT_EQ(std::memcmp(file.get("z_half").data, h.data(), 6), 0);
  EXPECT_EQ(std::memcmp(file.get("m_long").data, l.data(), 16), 0);
  EXPECT_EQ(file.get("m_long").dtype, DType::kI64);
  EXPECT_EQ(*static_cast<const uint8_t*>(file.get("b_byte").data), 9);
  EXPECT_EQ(file.get("empty").nbytes, 0u);
  // The data section starts 8-byte aligned and every tensor sits at a multiple of its element size.
  std::ifstream in(path, std::ios::binary);
  uint64_t header_len = 0;
  in.read(reinterpret_cast<char*>(&header_len), 8);
  EXPECT_EQ((8 + header_len) % 8, 0u);
  std::string header(header_len, '\0');
  in.read(header.data(), std::streamsize(header_len));
  EXPECT_LT(header.find("\"a_float\""), header.find("\"b_byte\""));  // sorted keys
  EXPECT_LT(header.find("\"b_byte\""), header.find("\"z_half\""));
  const auto* base = static_cast<const uint8_t*>(file.get("a_float").owner->data()) + 8 + header_len;
  for (const auto& [name, t] : file.tensors())
    EXPECT_EQ(size_t(static_cast<const uint8_t*>(t.data) - base) % dtype_size(t.dtype), 0u) << name;
}

TEST(SafetensorsWriter, RefusesDuplicateNames) {
  TempDir tmp;
  const float x = 1;
  expect_error(
      [&] {
        write_safetensors(tmp.file("d.safetensors"),
                          {{"a", DType::kF32, Shape{1}, &x}, {"a", DType::kF32, Shape{1}, &x}});
      },
      ErrorCode::kInvalidArgument, tmp.file("d.safetensors"), {"twice"});
}

}  // namespace
}  // namespace websd
