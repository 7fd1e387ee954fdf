// The safetensors reader and the pipeline-folder loader: good files load, bad ones fail with a message that names
// the file and the problem.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "fixtures.h"
#include "io/pipeline_folder.h"
#include "io/safetensors.h"
#include "io/weight_source.h"
#include "models/vae.h"
#include "backends/cpu/cpu_backend.h"

namespace websd {
namespace {

std::shared_ptr<MappedFile> make_file(const std::string& header, size_t data_bytes) {
  std::vector<uint8_t> bytes(8 + header.size() + data_bytes, 0);
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) bytes[size_t(i)] = uint8_t(n >> (8 * i));
  std::memcpy(bytes.data() + 8, header.data(), header.size());
  return MappedFile::from_bytes(std::move(bytes), "test.safetensors");
}

// Parsing must fail with `code` and a message containing the file name and `needle`.
void expect_error(const std::string& header, size_t data_bytes, ErrorCode code, const std::string& needle) {
  try {
    SafetensorsFile::parse(make_file(header, data_bytes));
    FAIL() << "expected an error for header " << header;
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    EXPECT_NE(std::string(e.what()).find("test.safetensors"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(Safetensors, ReadsAValidFile) {
  auto f = SafetensorsFile::parse(make_file(
      R"({"__metadata__":{"format":"pt"},"a":{"dtype":"F16","shape":[2,3],"data_offsets":[0,12]},)"
      R"("b":{"dtype":"F32","shape":[],"data_offsets":[12,16]}})",
      16));
  ASSERT_TRUE(f.contains("a"));
  EXPECT_EQ(f.get("a").shape, (Shape{2, 3}));
  EXPECT_EQ(f.get("a").dtype, DType::kF16);
  EXPECT_EQ(f.get("b").nbytes, 4u);
  EXPECT_EQ(f.metadata().at("format"), "pt");
}

TEST(Safetensors, RejectsMalformedFiles) {
  expect_error("", 0, ErrorCode::kCorruptFile, "not valid JSON");
  expect_error("[1,2]", 0, ErrorCode::kCorruptFile, "not a JSON object");
  expect_error(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 4, ErrorCode::kCorruptFile, "truncated");
  expect_error(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8, ErrorCode::kCorruptFile, "needs 12");
  expect_error(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],)"
               R"("data_offsets":[4,12]}})",
               12, ErrorCode::kCorruptFile, "overlaps");
  expect_error(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8, ErrorCode::kCorruptFile, "hole");
  expect_error(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 8, ErrorCode::kCorruptFile,
               "not described");
  expect_error(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4, ErrorCode::kCorruptFile, "negative");
  expect_error(R"({"a":{"dtype":"F32","shape":[1]}})", 4, ErrorCode::kCorruptFile, "data_offsets");
  expect_error(R"({"a":{"dtype":"C64","shape":[1],"data_offsets":[0,8]}})", 8, ErrorCode::kUnsupported, "C64");
}

// Found by scripts/fuzz.sh: an I8 tensor read as numbers (a LoRA or embedding file holding one) hit an assert,
// and returned uninitialised floats where asserts are off.
TEST(Safetensors, OnlyFloatTensorsReadAsNumbers) {
  auto f = SafetensorsFile::parse(make_file(
      R"({"q":{"dtype":"I8","shape":[4],"data_offsets":[0,4]},"x":{"dtype":"BF16","shape":[2],"data_offsets":[4,8]}})",
      8));
  try {
    (void)f.get("q").to_f32();
    FAIL() << "an I8 tensor must not read as numbers";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kCorruptFile);
    EXPECT_NE(std::string(e.what()).find("'q' is stored as I8"), std::string::npos) << e.what();
  }
  EXPECT_EQ(f.get("x").to_f32().size(), 2u);
}

TEST(Safetensors, RejectsTruncatedHeaderAndFile) {
  auto bytes = std::vector<uint8_t>{100, 0, 0, 0, 0, 0, 0, 0, '{'};
  EXPECT_THROW(SafetensorsFile::parse(MappedFile::from_bytes(bytes, "x.safetensors")), Error);
  EXPECT_THROW(SafetensorsFile::parse(MappedFile::from_bytes({1, 2}, "x.safetensors")), Error);
  try {
    SafetensorsFile::open("/nonexistent/model.safetensors");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kNotFound);
    EXPECT_NE(std::string(e.what()).find("/nonexistent/model.safetensors"), std::string::npos);
  }
}

TEST(Safetensors, TruncatedRealWeightsFailWithTheFileName) {
  namespace fs = std::filesystem;
  const std::string src = test::fixture("tiny-sd1/model/unet/diffusion_pytorch_model.safetensors");
  const std::string dst = (fs::temp_directory_path() / "websd_truncated.safetensors").string();
  fs::copy_file(src, dst, fs::copy_options::overwrite_existing);
  fs::resize_file(dst, fs::file_size(dst) - 1000);
  try {
    SafetensorsFile::open(dst);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kCorruptFile);
    EXPECT_NE(std::string(e.what()).find(dst), std::string::npos) << e.what();
  }
  fs::remove(dst);
}

TEST(PipelineFolder, LoadsTheFixtureFolders) {
  for (const char* name : {"tiny-sd1", "tiny-sd2"}) {
    auto p = PipelineFolder::open(test::fixture(std::string(name) + "/model"));
    EXPECT_EQ(p.pipeline_class(), "StableDiffusionPipeline");
    EXPECT_TRUE(p.has_component("unet"));
    EXPECT_FALSE(p.has_component("safety_checker"));
    auto w = p.weights("text_encoder");
    EXPECT_TRUE(w->contains("embeddings.token_embedding.weight"));
    EXPECT_EQ(p.config("scheduler").get_string("_class_name", ""), "PNDMScheduler");
  }
}

TEST(PipelineFolder, MissingPiecesAreClearErrors) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / "websd_bad_model";
  fs::remove_all(dir);
  try {
    PipelineFolder::open(dir.string());
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kNotFound);
    EXPECT_NE(std::string(e.what()).find("no such model folder"), std::string::npos);
  }
  fs::create_directories(dir / "unet");
  try {
    PipelineFolder::open(dir.string());
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("model_index.json"), std::string::npos);
  }
  std::ofstream(dir / "model_index.json") << R"({"_class_name":"StableDiffusionPipeline","unet":["diffusers","x"]})";
  auto p = PipelineFolder::open(dir.string());
  try {
    p.config("vae");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("vae: component folder is missing"), std::string::npos) << e.what();
  }
  std::ofstream(dir / "unet" / "diffusion_pytorch_model.bin") << "pickle";
  try {
    p.weights("unet");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnsupported);
    EXPECT_NE(std::string(e.what()).find("arbitrary code"), std::string::npos) << e.what();
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace websd

namespace websd {
namespace {

// Files that are read instead of mapped (the WebAssembly build's only way) give the same tensors, weights that
// load on demand, and the same network outputs.
TEST(Safetensors, UnmappedFilesReadTheSameBytesOnDemand) {
  const std::string path = test::fixture("tiny-sd1/model/vae/diffusion_pytorch_model.safetensors");
  const SafetensorsFile mapped = SafetensorsFile::open(path);
  const SafetensorsFile read = SafetensorsFile::parse(MappedFile::open_unmapped(path));
  ASSERT_EQ(read.tensors().size(), mapped.tensors().size());
  for (const auto& [name, t] : read.tensors()) {
    const TensorView& m = mapped.get(name);
    EXPECT_EQ(t.data, nullptr) << name;
    EXPECT_EQ(t.offset, m.offset) << name;
    EXPECT_EQ(t.bytes(), m.bytes()) << name;
    const WeightData w = file_weight(name, t.dtype, t.shape, t.owner, t.offset);
    ASSERT_EQ(w.data, nullptr) << name;
    ASSERT_TRUE(w.load) << name;
    const WeightData r = resident(w);
    ASSERT_NE(r.data, nullptr) << name;
    EXPECT_EQ(std::memcmp(r.data, m.data, m.nbytes), 0) << name;
  }

  const VaeConfig cfg = VaeConfig::from(Config::load(test::fixture("tiny-sd1/model/vae/config.json")));
  std::vector<float> z(4 * 8 * 8);
  for (size_t i = 0; i < z.size(); ++i) z[i] = float(int(i % 7) - 3) * 0.25f;
  auto decode = [&](std::vector<SafetensorsFile> files) {
    SafetensorsWeights weights(std::move(files));
    auto net = build_vae_decoder(cfg, weights, 1, 8, 8);
    auto exe = make_cpu_backend()->compile(net.graph);
    exe->set_input(net.latents, z.data());
    exe->run();
    std::vector<float> out(size_t(net.graph->shape(net.image).numel()));
    exe->read(net.image, out.data());
    return out;
  };
  std::vector<SafetensorsFile> m, r;
  m.push_back(mapped);
  r.push_back(read);
  EXPECT_EQ(decode(std::move(r)), decode(std::move(m)));
}

}  // namespace
}  // namespace websd
