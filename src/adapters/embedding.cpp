#include "adapters/embedding.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <filesystem>

#include "core/dtype.h"
#include "core/error.h"
#include "io/safetensors.h"

namespace websd {
namespace {

constexpr const char* kTokenTable = "embeddings.token_embedding.weight";

// Where `word` next occurs in `text` from `from`, ignoring ASCII case: the CLIP tokenizer lowercases prompts, so
// the widely used web UI's embedding words match in any case ("EasyNegative", "easynegative").
size_t find_word(const std::string& text, const std::string& word, size_t from) {
  const auto same = [](char a, char b) {
    return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
  };
  if (word.empty() || from > text.size()) return std::string::npos;
  const auto it = std::search(text.begin() + long(from), text.end(), word.begin(), word.end(), same);
  return it == text.end() ? std::string::npos : size_t(it - text.begin());
}

EmbeddingVectors read_vectors(const TensorView& t, const std::string& path) {
  if (t.dtype != DType::kF32 && t.dtype != DType::kF16 && t.dtype != DType::kBF16)
    throw Error(ErrorCode::kCorruptFile, path + ": embedding tensor '" + t.name + "' is " + dtype_name(t.dtype) +
                                             "; textual inversion vectors are F32, F16 or BF16");
  EmbeddingVectors v;
  v.key = t.name;
  if (t.shape.rank() == 1) {
    v.count = 1;
    v.dim = int(t.shape[0]);
  } else if (t.shape.rank() == 2) {
    v.count = int(t.shape[0]);
    v.dim = int(t.shape[1]);
  }
  if (v.count < 1 || v.count > 75 || v.dim < 1 || v.dim > 8192)
    throw Error(ErrorCode::kCorruptFile, path + ": embedding tensor '" + t.name + "' has shape " + t.shape.str() +
                                             "; expected [vectors, width] with 1 to 75 vectors");
  v.data = t.to_f32();
  return v;
}

// The token table of `base` (rows × dim) with `extra` rows appended (row r of the new table at base rows + r),
// in the base's storage: f16 stays f16 (the new rows rounded once), q8 keeps its rows and scales and quantises the
// new rows alone (one scale per row), anything else becomes f32.
WeightData grow_table(const WeightData& stored, int64_t rows, int64_t dim, const std::vector<float>& extra) {
  const WeightData w = resident(stored);
  const int64_t added = int64_t(extra.size()) / dim, total = rows + added;
  WeightData out{w.name, w.dtype, Shape{total, dim}};
  const size_t old_n = size_t(rows * dim);
  if (w.dtype == DType::kF16) {
    auto h = std::make_shared<std::vector<uint16_t>>(size_t(total * dim));
    std::memcpy(h->data(), w.data, old_n * 2);
    for (size_t i = 0; i < extra.size(); ++i) (*h)[old_n + i] = f32_to_f16(extra[i]);
    out.data = h->data();
    out.owner = h;
  } else if (w.dtype == DType::kI8) {
    struct Q8 {
      std::vector<uint8_t> q;
      std::vector<float> scales;
    };
    auto q = std::make_shared<Q8>();
    std::vector<uint8_t> new_q;
    std::vector<float> new_scales;
    quantize_q8(extra, added, new_q, new_scales);
    const auto* base_q = static_cast<const uint8_t*>(w.data);
    q->q.assign(base_q, base_q + old_n);
    q->q.insert(q->q.end(), new_q.begin(), new_q.end());
    q->scales.assign(w.scales, w.scales + rows);
    q->scales.insert(q->scales.end(), new_scales.begin(), new_scales.end());
    out.data = q->q.data();
    out.scales = q->scales.data();
    out.owner = q;
  } else {
    auto f = std::make_shared<std::vector<float>>(size_t(total * dim));
    expand_weight(w, 0, old_n, f->data());
    std::copy(extra.begin(), extra.end(), f->begin() + long(old_n));
    out.dtype = DType::kF32;
    out.data = f->data();
    out.owner = f;
  }
  return out;
}

// An encoder's weights with a larger token table; every other tensor is the base's own.
class EmbeddingWeights final : public WeightSource {
 public:
  EmbeddingWeights(std::shared_ptr<WeightSource> base, int64_t rows, int64_t dim, std::vector<float> extra)
      : base_(std::move(base)), rows_(rows), dim_(dim), extra_(std::move(extra)) {}

  WeightData get(const std::string& name, const Shape& shape) const override {
    if (name != kTokenTable) return base_->get(name, shape);
    const Shape want{rows_ + int64_t(extra_.size()) / dim_, dim_};
    if (shape != want)
      throw Error(ErrorCode::kInvalidArgument, base_->where() + ": " + name + " was asked for as " + shape.str() +
                                                   "; with the embeddings' tokens it is " + want.str());
    if (!table_.data) table_ = grow_table(base_->get(name, Shape{rows_, dim_}), rows_, dim_, extra_);
    return table_;
  }
  bool contains(const std::string& name) const override { return base_->contains(name); }
  std::string where() const override { return base_->where() + " (with textual inversion embeddings)"; }
  std::shared_ptr<const LowRankSum> run_time_low_rank(const std::string& name, const Shape& shape) const override {
    return base_->run_time_low_rank(name, shape);
  }
  std::vector<TensorInfo> list() const override { return base_->list(); }

 private:
  std::shared_ptr<WeightSource> base_;
  int64_t rows_, dim_;
  std::vector<float> extra_;
  mutable WeightData table_;  // made on first use
};

}  // namespace

std::shared_ptr<const EmbeddingFile> EmbeddingFile::open(const std::string& path) {
  for (const char* ext : {".pt", ".pth", ".bin", ".ckpt"})
    if (path.ends_with(ext))
      throw Error(ErrorCode::kUnsupported, path + ": pickled embedding files are not read (they can run code); "
                                                  "use the .safetensors version of the embedding");
  if (path.ends_with(".png") || path.ends_with(".webp"))
    throw Error(ErrorCode::kUnsupported, path + ": embeddings hidden in images are not read; use the "
                                                "embedding's .safetensors file");
  const SafetensorsFile f = SafetensorsFile::open(path);
  auto e = std::make_shared<EmbeddingFile>();
  e->path_ = path;
  const auto& t = f.tensors();
  if (t.count("clip_l") || t.count("clip_g")) {
    // SDXL's layout: one table per encoder.
    for (const char* key : {"clip_l", "clip_g"})
      if (t.count(key)) e->tables_.push_back(read_vectors(t.at(key), path));
    e->per_encoder_ = true;
  } else if (t.count("emb_params")) {
    e->tables_.push_back(read_vectors(t.at("emb_params"), path));
  } else if (t.size() == 1) {
    e->tables_.push_back(read_vectors(t.begin()->second, path));  // diffusers: {word: vectors}
  } else {
    std::string keys;  // the first few, enough to see what the file is
    size_t listed = 0;
    for (const auto& [name, view] : t)
      if (listed++ < 3) keys += (keys.empty() ? "" : ", ") + name;
    if (t.size() > 3) keys += " and " + std::to_string(t.size() - 3) + " more";
    throw Error(ErrorCode::kCorruptFile,
                path + ": not a textual inversion embedding (expected emb_params, clip_l/clip_g or a single tensor; "
                       "found " + (keys.empty() ? std::string("no tensors") : keys) + ")");
  }
  return e;
}

const EmbeddingVectors* EmbeddingFile::vectors_for(const std::string& encoder, int dim) const {
  if (per_encoder_) {
    const std::string key = encoder == "text_encoder_2" ? "clip_g" : "clip_l";
    for (const EmbeddingVectors& v : tables_)
      if (v.key == key && v.dim == dim) return &v;
    return nullptr;
  }
  return tables_[0].dim == dim ? &tables_[0] : nullptr;
}

EmbeddingRequest parse_embedding_argument(const std::string& arg) {
  // FILE:WORD, where a colon in the path (C:\…) is kept when what follows has a path separator.
  const size_t colon = arg.rfind(':');
  if (colon != std::string::npos && colon > 1 && arg.find_first_of("/\\", colon) == std::string::npos &&
      colon + 1 < arg.size())
    return {arg.substr(0, colon), arg.substr(colon + 1)};
  return {arg, ""};
}

std::string embedding_word(const EmbeddingRequest& r) {
  if (!r.word.empty()) return r.word;
  // The file's stem, with either separator (a Windows path given to the wasm build, too).
  const size_t slash = r.path.find_last_of("/\\");
  const std::string name = slash == std::string::npos ? r.path : r.path.substr(slash + 1);
  const size_t dot = name.rfind('.');
  return dot == std::string::npos || dot == 0 ? name : name.substr(0, dot);
}

std::vector<EmbeddingRequest> find_embeddings(const std::string& dir, const std::vector<std::string>& prompts) {
  std::vector<EmbeddingRequest> found;
  if (dir.empty()) return found;
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec))
    throw Error(ErrorCode::kNotFound, "embedding folder " + dir + " does not exist");
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec))
    if (entry.path().extension() == ".safetensors") files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  const auto word_char = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; };
  for (const auto& file : files) {
    const std::string word = file.stem().string();
    bool used = false;
    for (const std::string& p : prompts)
      for (size_t at = find_word(p, word, 0); !used && at != std::string::npos; at = find_word(p, word, at + 1))
        used = (at == 0 || !word_char(p[at - 1]) || !word_char(word.front())) &&
               (at + word.size() == p.size() || !word_char(p[at + word.size()]) || !word_char(word.back()));
    if (used) found.push_back({file.string(), word});
  }
  return found;
}

ClipTextComponent with_embeddings(const ClipTextComponent& base, const std::vector<EmbeddingUse>& uses) {
  if (uses.empty()) return base;
  ClipTextComponent c = base;
  auto tokenizer = std::make_shared<ClipTokenizer>(*base.tokenizer);
  const int dim = base.cfg.hidden_size;
  std::vector<float> extra;
  int64_t next = base.cfg.vocab_size;
  for (const EmbeddingUse& u : uses) {
    const EmbeddingVectors* v = u.file->vectors_for(base.name, dim);
    if (!v)
      throw Error(ErrorCode::kInvalidArgument,
                  u.file->path() + ": embedding '" + u.word + "' has no vectors " + std::to_string(dim) +
                      " wide for the model's " + base.name + " (it was made for another model family)");
    if (u.word.empty() || u.word.find_first_of(" \t\n") != std::string::npos)
      throw Error(ErrorCode::kInvalidArgument, u.file->path() + ": an embedding's word must be one word without "
                                                                "spaces (got '" + u.word + "')");
    std::vector<int32_t> run;
    for (int i = 0; i < v->count; ++i) {
      const std::string entry = i ? u.word + "_" + std::to_string(i) : u.word;
      // The tokenizer numbers its entries; the table must have a row for each, in that order.
      const int32_t id = tokenizer->add_word(entry);
      if (id < 0)
        throw Error(ErrorCode::kInvalidArgument, u.file->path() + ": the word '" + entry + "' is already a token of "
                                                                  "the model's tokenizer or of another embedding; "
                                                                  "give the embedding another word (FILE:WORD)");
      if (id != next)
        throw Error(ErrorCode::kInvalidArgument, base.name + ": the tokenizer numbers new words from " +
                                                     std::to_string(id) + " but the token table has " +
                                                     std::to_string(next) + " rows");
      ++next;
      run.push_back(id);
      extra.insert(extra.end(), v->data.begin() + long(i) * dim, v->data.begin() + long(i + 1) * dim);
    }
    if (run.size() > 1) c.token_runs.push_back(std::move(run));
  }
  c.tokenizer = tokenizer;
  c.cfg.vocab_size = int(next);
  c.weights = std::make_shared<EmbeddingWeights>(base.weights, base.cfg.vocab_size, dim, std::move(extra));
  return c;
}

std::string expand_embedding_words(const std::string& prompt, const std::vector<EmbeddingUse>& uses,
                                   const ClipTextComponent& text) {
  std::string out = prompt;
  for (const EmbeddingUse& u : uses) {
    const EmbeddingVectors* v = u.file->vectors_for(text.name, text.cfg.hidden_size);
    if (!v) continue;
    std::string spelled = u.word;  // also the word's own spelling where the prompt's case differs
    for (int i = 1; i < v->count; ++i) spelled += " " + u.word + "_" + std::to_string(i);
    std::string next;
    for (size_t pos = 0;;) {
      const size_t at = find_word(out, u.word, pos);
      next.append(out, pos, at == std::string::npos ? std::string::npos : at - pos);
      if (at == std::string::npos) break;
      next += spelled;
      pos = at + u.word.size();
    }
    out = std::move(next);
  }
  return out;
}

}  // namespace websd
