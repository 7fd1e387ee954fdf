#include "backends/webgpu/webgpu_backend.h"

#include <array>
#include <cstring>
#include <map>
#include <tuple>
#include <vector>

#include "backends/webgpu/gpu_device.h"
#include "backends/webgpu/kernel_params.h"
#include "backends/webgpu/lowering.h"
#include "core/error.h"
#include "core/low_rank.h"

namespace websd {
namespace webgpu {
namespace {

std::string mib(uint64_t bytes) { return std::to_string((bytes + (1 << 20) - 1) >> 20) + " MiB"; }

struct GpuWeight {
  Buffer buffer;
  DType dtype;  // F32, F16, or I8 (q8: values and per-row scales, expanded in the shaders)
};

// GPU copies of weights, kept while the memory they came from lives (a model's files), so that compiling the
// same network again (every generate() does) uploads nothing.
class WeightCache {
 public:
  explicit WeightCache(std::shared_ptr<Device> device) : device_(std::move(device)) {}

  // Frees the GPU copies of weights whose memory is gone (a closed model, a freed synthetic network). Called once
  // per compile, before its arena is allocated.
  void purge() {
    for (auto it = entries_.begin(); it != entries_.end();)
      it = it->second.owner.expired() ? entries_.erase(it) : std::next(it);
  }

  std::shared_ptr<const GpuWeight> get(const WeightData& w, WeightLayout layout) {
    const auto make = [&] {
      if (w.low_rank) return merge(w, layout);
      return layout == WeightLayout::kKMajor    ? upload_kn(resident(w))
             : layout == WeightLayout::kWinograd ? upload_winograd(resident(w))
                                                 : upload(resident(w));
    };
    if (!w.owner) return make();  // nothing tells when this memory changes hands: do not cache
    // Resident weights are told apart by their bytes; the others by their file (or token) and name.
    Entry& e = entries_[{w.data ? w.data : w.owner.get(), w.data ? std::string() : w.name, layout}];
    // Bytes that are not resident are read for the upload and dropped right after it.
    if (!e.gpu) e = {w.owner, make()};
    return e.gpu;
  }

 private:
  // A matrix weight w [N, K...] as the GEMM core reads it (kernel_source.cpp, kn_weight_declaration): wᵀ [K, N4]
  // with N padded to a multiple of 4; f32 and f16 as stored, q8 as [N4 f32 scales][K · N4 int8], other dtypes
  // expanded to f32. Transposed here once, so that no kernel ever gathers across rows of w.
  std::shared_ptr<const GpuWeight> upload_kn(const WeightData& w) const {
    const size_t N = size_t(w.shape[0]), K = size_t(w.shape.numel()) / N, N4 = (N + 3) / 4 * 4;
    auto gpu = std::make_shared<GpuWeight>();
    gpu->dtype = w.dtype == DType::kF16 || w.dtype == DType::kI8 ? w.dtype : DType::kF32;
    if (w.dtype == DType::kF16 || w.dtype == DType::kF32) {  // re-laid on the GPU (kernels/weight_layout.wgsl)
      const bool half = w.dtype == DType::kF16;
      return relayout(std::move(gpu), w, half ? "kn_f16" : "kn_f32", half, half, N, K, N4,
                      half ? K * N4 / 2 : K * N4, K * N4 * (half ? 2 : 4));
    }
    std::vector<uint8_t> staging;
    const auto transpose = [&](auto* dst, const auto* src, size_t offset_elements) {
      constexpr size_t kBlock = 64;  // cache-sized blocks of rows and columns
      for (size_t n0 = 0; n0 < N; n0 += kBlock)
        for (size_t k0 = 0; k0 < K; k0 += kBlock)
          for (size_t n = n0; n < std::min(N, n0 + kBlock); ++n)
            for (size_t k = k0; k < std::min(K, k0 + kBlock); ++k) dst[offset_elements + k * N4 + n] = src[n * K + k];
    };
    if (w.dtype == DType::kI8) {
      staging.assign(N4 * 4 + K * N4, 0);
      std::memcpy(staging.data(), w.scales, N * 4);
      transpose(reinterpret_cast<int8_t*>(staging.data()), static_cast<const int8_t*>(w.data), N4 * 4);
    } else {
      std::vector<float> f32(N * K);
      expand_weight(w, 0, N * K, f32.data());
      staging.assign(K * N4 * 4, 0);
      transpose(reinterpret_cast<float*>(staging.data()), f32.data(), 0);
    }
    return write(std::move(gpu), w, staging.data(), staging.size());
  }

  // A 3×3 convolution weight g [O, C, 3, 3] as Winograd F(2×2, 3×3) reads it (kernels/winograd_gemm.wgsl): U[ξ] =
  // G g Gᵀ at the 16 transformed positions ξ, laid out [16 · C, O4] like a K-major GEMM weight (O padded to a
  // multiple of 4). Computed in f32 on the GPU for f16 and f32 weights (kernels/weight_layout.wgsl; in double on
  // the host for others) and rounded once: large f16 weights stay f16 (half the bytes of f32; the rounding of U adds
  // about 3e-4 RMS relative error to a convolution's output, as much as storing the weights in f16 did); small ones
  // (U under kExactWinogradBytes as f32: the VAE's last 128- and 256-channel layers, tiny models) and everything
  // else become f32 (q8 weights never come here: lowering.cpp, plan_winograd).
  static constexpr size_t kExactWinogradBytes = 4u << 20;
  std::shared_ptr<const GpuWeight> upload_winograd(const WeightData& w) const {
    const size_t O = size_t(w.shape[0]), C = size_t(w.shape[1]), O4 = (O + 3) / 4 * 4;
    if (w.shape.rank() != 4 || w.shape[2] != 3 || w.shape[3] != 3 || w.dtype == DType::kI8)
      throw Error(ErrorCode::kInternal, "webgpu: Winograd weight " + w.name + " " + w.shape.str() + " is not a 3x3 f16/f32 kernel");
    auto gpu = std::make_shared<GpuWeight>();
    const bool half = w.dtype == DType::kF16 && 16 * C * O4 * 4 > kExactWinogradBytes;
    gpu->dtype = half ? DType::kF16 : DType::kF32;
    if (w.dtype == DType::kF16 || w.dtype == DType::kF32)  // transformed on the GPU, in f32 (weight_layout.wgsl)
      return relayout(std::move(gpu), w, "winograd", w.dtype == DType::kF16, half, O, C, O4, C * O4 / 2,
                      16 * C * O4 * (half ? 2 : 4));
    std::vector<float> g(O * C * 9);  // other dtypes (bf16): expanded and transformed here, into f32
    expand_weight(w, 0, g.size(), g.data());
    std::vector<uint8_t> staging(16 * C * O4 * 4, 0);
    for (size_t o = 0; o < O; ++o)
      for (size_t c = 0; c < C; ++c) {
        double U[4][4];
        winograd_transform(&g[(o * C + c) * 9], U);
        for (int a = 0; a < 4; ++a)
          for (int b = 0; b < 4; ++b) {
            const size_t at = ((size_t(a) * 4 + size_t(b)) * C + c) * O4 + o;
            reinterpret_cast<float*>(staging.data())[at] = float(U[a][b]);
          }
      }
    return write(std::move(gpu), w, staging.data(), staging.size());
  }

  // W' = W + up · down (a LoRA set merged into W: core/low_rank.h), computed on the GPU from W's copy in the same
  // layout (uploaded once and kept while the model lives, like every weight), into the layout and storage type
  // the host would have uploaded W' in. A change of LoRAs so costs the upload of their factors and one small
  // program per adapted weight, never the merged weights themselves (docs/lora.md).
  std::shared_ptr<const GpuWeight> merge(const WeightData& w, WeightLayout layout) {
    const LowRankSum& sum = *w.low_rank;
    const std::shared_ptr<const GpuWeight> base = get(sum.base, layout);
    const size_t N = size_t(w.shape[0]), K = size_t(w.shape.numel()) / N, R = size_t(sum.rank);
    const bool rows = layout == WeightLayout::kAsStored;
    const size_t npad = rows ? N : (N + 3) / 4 * 4;
    size_t cols = K;
    DType dtype = w.dtype;  // F32, F16 or I8 (low_rank_sum)
    const float* down = sum.down.data();
    std::vector<float> transformed;
    if (layout == WeightLayout::kWinograd) {  // U' = U + up · (G down Gᵀ): the transform is linear
      const size_t C = size_t(w.shape[1]);
      transformed = winograd_rows(sum.down, R, C);
      down = transformed.data();
      cols = 16 * C;
      dtype = w.dtype == DType::kF16 && 16 * C * npad * 4 > kExactWinogradBytes ? DType::kF16 : DType::kF32;
    }
    std::vector<float> up(npad * R, 0.0f);  // zero rows past N: the padding columns stay zero
    std::copy(sum.up.begin(), sum.up.end(), up.begin());
    const size_t count = cols * npad;
    const size_t size = dtype == DType::kF32   ? count * 4
                        : dtype == DType::kF16 ? (count + 1) / 2 * 4
                        : rows                 ? 8 + N * 4 + (count + 3) / 4 * 4
                                               : npad * 4 + count;
    auto gpu = std::make_shared<GpuWeight>();
    gpu->dtype = dtype;
    gpu->buffer = weight_buffer(w, size);
    Buffer up_buffer = device_->create_buffer(up.size() * 4, "LoRA factors of " + w.name);
    Buffer down_buffer = device_->create_buffer(R * cols * 4, "LoRA factors of " + w.name);
    check(wsd_gpu_buffer_write(up_buffer.handle(), 0, up.data(), up.size() * 4), "uploading LoRA factors of " + w.name);
    check(wsd_gpu_buffer_write(down_buffer.handle(), 0, down, R * cols * 4), "uploading LoRA factors of " + w.name);

    const LowRankParams params{uint32_t(N), uint32_t(cols), uint32_t(npad), uint32_t(R)};
    const std::array<wsd_gpu_binding, 4> bindings{
        wsd_gpu_binding{base->buffer.handle(), 0, 0, base->buffer.size()},
        wsd_gpu_binding{up_buffer.handle(), 0, 0, up_buffer.size()},
        wsd_gpu_binding{down_buffer.handle(), 0, 0, down_buffer.size()},
        wsd_gpu_binding{gpu->buffer.handle(), 0, 0, gpu->buffer.size()}};
    // Threads: one per written word (rows) or per four columns of a K-major row; q8 first finds its scales.
    const uint64_t threads = !rows ? count / 4 : dtype == DType::kF32 ? count : dtype == DType::kF16 ? (count + 1) / 2
                                                                                                        : (count + 3) / 4;
    std::vector<std::pair<const char*, uint64_t>> steps;
    if (dtype == DType::kI8) steps.push_back({"merge_q8_scales", rows ? N : npad});
    steps.push_back({dtype == DType::kF32 ? "merge_f32" : dtype == DType::kF16 ? "merge_f16" : "merge_q8", threads});
    std::vector<wsd_gpu_dispatch> program;
    for (const auto& [entry, n] : steps) {
      KernelVariant v;
      v.file = rows ? "low_rank_rows" : "low_rank_kn";
      v.entry = entry;
      v.weights = {{"base", base->dtype}};
      v.uniform_bytes = sizeof(params);
      v.storage_bindings = uint32_t(bindings.size());
      const std::array<uint32_t, 3> groups = flat_grid(n, kFlatWorkgroup, device_->info());
      program.push_back(wsd_gpu_dispatch{device_->pipeline(v), uint32_t(bindings.size()), bindings.data(), &params,
                                         uint32_t(sizeof(params)), {groups[0], groups[1], groups[2]}});
    }
    wsd_gpu_program merge = 0;
    check(wsd_gpu_program_create(program.data(), uint32_t(program.size()), &merge), "merging LoRAs into " + w.name);
    const wsd_gpu_status ran = wsd_gpu_program_run(merge);
    wsd_gpu_program_destroy(merge);  // the GPU finishes submitted work with its buffers before freeing them
    check(ran, "merging LoRAs into " + w.name);
    return gpu;
  }

  // The rows of a conv LoRA's down factor [R, C, 3, 3] transformed as Winograd transforms a 3×3 kernel (G d Gᵀ,
  // in double): [R, 16 · C], in U's order.
  static std::vector<float> winograd_rows(const std::vector<float>& down, size_t R, size_t C) {
    std::vector<float> out(R * 16 * C);
    for (size_t r = 0; r < R; ++r)
      for (size_t c = 0; c < C; ++c) {
        double u[4][4];
        winograd_transform(&down[(r * C + c) * 9], u);
        for (size_t x = 0; x < 16; ++x) out[r * 16 * C + x * C + c] = float(u[x / 4][x % 4]);
      }
    return out;
  }

  // U = G g Gᵀ of one 3×3 kernel g (row-major), F(2×2, 3×3).
  static void winograd_transform(const float* g, double u[4][4]) {
    static constexpr double G[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
    double gk[4][3];  // G g
    for (int a = 0; a < 4; ++a)
      for (int j = 0; j < 3; ++j) gk[a][j] = G[a][0] * g[j] + G[a][1] * g[3 + j] + G[a][2] * g[6 + j];
    for (int a = 0; a < 4; ++a)
      for (int b = 0; b < 4; ++b) u[a][b] = gk[a][0] * G[b][0] + gk[a][1] * G[b][1] + gk[a][2] * G[b][2];
  }

  // A weight re-laid by one dispatch of kernels/weight_layout.wgsl: its stored bytes (f16 or f32) go up into a
  // buffer of their own, `entry` writes `out_bytes` of the layout from them with `threads` threads (Params n, k, n4).
  // The stored copy is freed on return; the GPU finishes the program with it first.
  std::shared_ptr<const GpuWeight> relayout(std::shared_ptr<GpuWeight> gpu, const WeightData& w, const char* entry,
                                            bool in_f16, bool out_f16, size_t n, size_t k, size_t n4, size_t threads,
                                            size_t out_bytes) const {
    const WeightData stored = resident(w);
    const size_t bytes = size_t(stored.shape.numel()) * (in_f16 ? 2 : 4);
    Buffer src = device_->create_buffer((bytes + 3) / 4 * 4, "weight " + w.name + " as stored");
    if (bytes % 4) {  // an odd number of f16 values: writes are whole words
      std::vector<uint8_t> padded(bytes + 2, 0);
      std::memcpy(padded.data(), stored.data, bytes);
      check(wsd_gpu_buffer_write(src.handle(), 0, padded.data(), padded.size()), "uploading weight " + w.name);
    } else {
      check(wsd_gpu_buffer_write(src.handle(), 0, stored.data, bytes), "uploading weight " + w.name);
    }
    gpu->buffer = weight_buffer(w, out_bytes);
    const uint32_t params[4] = {uint32_t(n), uint32_t(k), uint32_t(n4), 0};
    const std::array<wsd_gpu_binding, 2> bindings{wsd_gpu_binding{src.handle(), 0, 0, src.size()},
                                                  wsd_gpu_binding{gpu->buffer.handle(), 0, 0, gpu->buffer.size()}};
    KernelVariant v;
    v.file = "weight_layout";
    v.entry = entry;
    v.constants = {{"IN_F16", in_f16 ? "true" : "false"}, {"OUT_F16", out_f16 ? "true" : "false"}};
    v.uniform_bytes = sizeof(params);
    v.storage_bindings = uint32_t(bindings.size());
    const std::array<uint32_t, 3> groups = flat_grid(threads, kFlatWorkgroup, device_->info());
    const wsd_gpu_dispatch d{device_->pipeline(v), uint32_t(bindings.size()), bindings.data(), params,
                             uint32_t(sizeof(params)), {groups[0], groups[1], groups[2]}};
    wsd_gpu_program program = 0;
    check(wsd_gpu_program_create(&d, 1, &program), "laying out weight " + w.name);
    const wsd_gpu_status ran = wsd_gpu_program_run(program);
    wsd_gpu_program_destroy(program);
    check(ran, "laying out weight " + w.name);
    return gpu;
  }

  Buffer weight_buffer(const WeightData& w, size_t size) const {
    if (size > device_->info().max_storage_buffer_binding_size)
      throw Error(ErrorCode::kUnsupported, "webgpu: weight " + w.name + " " + w.shape.str() + " needs " + mib(size) +
                                               " in one binding, above this GPU's maxStorageBufferBindingSize of " +
                                               mib(device_->info().max_storage_buffer_binding_size) +
                                               " (splitting large tensors is not implemented yet)");
    return device_->create_buffer(size, "weight " + w.name);
  }

  std::shared_ptr<const GpuWeight> write(std::shared_ptr<GpuWeight> gpu, const WeightData& w, const void* bytes,
                                         size_t size) const {
    gpu->buffer = weight_buffer(w, size);
    check(wsd_gpu_buffer_write(gpu->buffer.handle(), 0, bytes, size), "uploading weight " + w.name);
    return gpu;
  }

  // F32, F16 and q8 go up as stored (q8 with a small header, see q8_staging); BF16 is expanded to f32 first,
  // exactly as the cpu reference expands it.
  std::shared_ptr<const GpuWeight> upload(const WeightData& w) const {
    const size_t n = size_t(w.shape.numel());
    auto gpu = std::make_shared<GpuWeight>();
    gpu->dtype = w.dtype == DType::kF16 || w.dtype == DType::kI8 ? w.dtype : DType::kF32;
    std::vector<uint8_t> staging;
    const void* bytes = w.data;
    size_t size = n * dtype_size(gpu->dtype);
    if (w.dtype == DType::kI8) {
      staging = q8_staging(w);
      bytes = staging.data();
      size = staging.size();
    } else if (w.dtype != DType::kF16 && w.dtype != DType::kF32) {
      staging.resize(size);
      expand_weight(w, 0, n, reinterpret_cast<float*>(staging.data()));
      bytes = staging.data();
    } else if (size % 4) {  // an odd number of f16 values: writes are whole words
      staging.assign(size + 2, 0);
      std::memcpy(staging.data(), w.data, size);
      bytes = staging.data();
      size += 2;
    }
    return write(std::move(gpu), w, bytes, size);
  }

  // A q8 weight as the shaders read it (kernel_source.cpp): u32 rows, u32 row length, rows f32 scales, then the
  // int8 values, padded to whole words.
  static std::vector<uint8_t> q8_staging(const WeightData& w) {
    const uint32_t rows = uint32_t(w.shape[0]), row_len = uint32_t(w.shape.numel() / w.shape[0]);
    const size_t n = size_t(w.shape.numel());
    std::vector<uint8_t> out(8 + size_t(rows) * 4 + ((n + 3) & ~size_t(3)), 0);
    std::memcpy(out.data(), &rows, 4);
    std::memcpy(out.data() + 4, &row_len, 4);
    std::memcpy(out.data() + 8, w.scales, size_t(rows) * 4);
    std::memcpy(out.data() + 8 + size_t(rows) * 4, w.data, n);
    return out;
  }

  struct Entry {
    std::weak_ptr<const void> owner;
    std::shared_ptr<const GpuWeight> gpu;
  };
  std::shared_ptr<Device> device_;
  std::map<std::tuple<const void*, std::string, WeightLayout>, Entry> entries_;
};

class WebGpuExecutable final : public Executable {
 public:
  WebGpuExecutable(std::shared_ptr<const Graph> graph, std::shared_ptr<Device> device, WeightCache& cache)
      : g_(std::move(graph)), device_(std::move(device)), cache_(cache) {
    const wsd_gpu_info& info = device_->info();
    if (MemoryPlan::kAlignment % info.min_storage_buffer_offset_alignment != 0)
      throw Error(ErrorCode::kUnsupported, "webgpu: this GPU's minStorageBufferOffsetAlignment (" +
                                               std::to_string(info.min_storage_buffer_offset_alignment) +
                                               ") does not divide the planner's alignment of 256");
    plan_ = plan_memory(*g_, [&](const Node& n) { return scratch_bytes(*g_, n, info); });
    cache.purge();  // before the arena: what a freed network left must not count on top of it
    const auto& nodes = g_->nodes();
    weights_.resize(nodes.size());
    for (size_t i = 0; i < nodes.size(); ++i) {
      const Node& n = nodes[i];
      if (n.op == Op::kWeight) continue;  // uploaded in the layouts the lowering asks for (where)
      const uint64_t bytes = bytes_of(TensorId(i));
      if (bytes > info.max_storage_buffer_binding_size)
        throw Error(ErrorCode::kUnsupported,
                    std::string("webgpu: the ") + op_name(n.op) + " output " + n.shape.str() + " needs " + mib(bytes) +
                        " in one binding, above this GPU's maxStorageBufferBindingSize of " +
                        mib(info.max_storage_buffer_binding_size) +
                        "; splitting large tensors is not implemented yet (try a smaller image)");
    }
    arena_ = device_->create_buffer(std::max<uint64_t>(plan_.arena_bytes, MemoryPlan::kAlignment),
                                    "the activation arena (" + mib(plan_.arena_bytes) + ")");
    build_program();
    find_token_inputs();
  }

  ~WebGpuExecutable() override {
    if (program_) wsd_gpu_program_destroy(program_);
  }

  void set_input(TensorId id, const void* data) override {
    const Node& n = g_->node(id);
    if (n.op != Op::kInput) throw Error(ErrorCode::kInvalidArgument, "set_input on a node that is not an input");
    if (auto it = vocab_.find(id); it != vocab_.end()) {
      const int32_t* ids = static_cast<const int32_t*>(data);
      for (int64_t i = 0; i < n.shape.numel(); ++i)
        if (ids[i] < 0 || ids[i] >= it->second)
          throw Error(ErrorCode::kInvalidArgument, "token id " + std::to_string(ids[i]) +
                                                       " is outside the vocabulary of " + std::to_string(it->second));
    }
    check(wsd_gpu_buffer_write(arena_.handle(), uint64_t(plan_.offset[size_t(id)]), data, bytes_of(id)),
          "writing input " + n.name);
  }

  void run(const std::atomic<bool>* cancel) override {
    if (cancel && cancel->load()) throw Error(ErrorCode::kCancelled, "run cancelled");
    check(wsd_gpu_program_run(program_), "running the graph");
  }

  void read(TensorId id, float* dst) override {
    const Node& n = g_->node(id);
    if (n.op == Op::kWeight) throw Error(ErrorCode::kInvalidArgument, "webgpu: read of weight " + n.name);
    check(wsd_gpu_buffer_read(arena_.handle(), uint64_t(plan_.offset[size_t(id)]), dst, bytes_of(id)),
          "reading " + (n.name.empty() ? std::string(op_name(n.op)) : n.name));
  }

  const MemoryPlan& plan() const override { return plan_; }

  std::vector<ProfiledStep> profile() override {
    std::vector<uint64_t> ns(steps_.size());
    check(wsd_gpu_program_profile(program_, ns.data()), "profiling the graph");
    std::vector<ProfiledStep> out = steps_;
    for (size_t i = 0; i < out.size(); ++i) out[i].ms = double(ns[i]) / 1e6;
    return out;
  }

 private:
  uint64_t bytes_of(TensorId t) const {
    const Node& n = g_->node(t);
    return uint64_t(n.shape.numel()) * dtype_size(n.dtype);
  }

  TensorRef where(TensorId t, WeightLayout layout) {
    const Node& n = g_->node(t);
    if (n.op == Op::kWeight) {
      auto& slot = weights_[size_t(t)][size_t(layout)];
      if (!slot) slot = cache_.get(g_->weights()[size_t(n.weight)], layout);
      return TensorRef{slot->buffer.handle(), 0, slot->buffer.size(), slot->dtype};
    }
    return TensorRef{arena_.handle(), uint64_t(plan_.offset[size_t(t)]), bytes_of(t), n.dtype};
  }

  // Every compute node's dispatches, in graph order, as one program (one command buffer per run).
  void build_program() {
    std::vector<Dispatch> dispatches;
    const Locator where{[this](TensorId t, WeightLayout layout) { return this->where(t, layout); },
                        [this](TensorId t) {
                          return TensorRef{arena_.handle(), uint64_t(plan_.scratch_offset[size_t(t)]),
                                           uint64_t(plan_.scratch_size[size_t(t)]), DType::kF32};
                        }};
    for (size_t i = 0; i < g_->nodes().size(); ++i)
      for (Dispatch& d : lower_node(*g_, TensorId(i), where, *device_)) dispatches.push_back(std::move(d));
    std::vector<std::vector<wsd_gpu_binding>> bindings(dispatches.size());
    std::vector<wsd_gpu_dispatch> program(dispatches.size());
    steps_.clear();
    for (size_t i = 0; i < dispatches.size(); ++i) {
      const Dispatch& d = dispatches[i];
      check_no_aliasing(d);
      double bytes = 0;
      for (const TensorRef& t : d.bindings) bytes += double(t.size);
      steps_.push_back(ProfiledStep{d.label, d.shape, d.flops, bytes, 0});
      for (const TensorRef& t : d.bindings) bindings[i].push_back(wsd_gpu_binding{t.buffer, 0, t.offset, t.size});
      program[i] = wsd_gpu_dispatch{device_->pipeline(d.variant), uint32_t(bindings[i].size()), bindings[i].data(),
                                    d.uniforms.data(), uint32_t(d.uniforms.size()),
                                    {d.groups[0], d.groups[1], d.groups[2]}};
    }
    check(wsd_gpu_program_create(program.data(), uint32_t(program.size()), &program_),
          "building the program of " + std::to_string(program.size()) + " dispatches");
  }

  // Every binding is writable (kernels/common.wgsl), and WebGPU rejects overlapping writable bindings: an op that
  // reads one tensor twice (mul(x, x)) would need a copy first, which no model needs yet.
  static void check_no_aliasing(const Dispatch& d) {
    for (size_t a = 0; a < d.bindings.size(); ++a)
      for (size_t b = a + 1; b < d.bindings.size(); ++b) {
        const TensorRef &x = d.bindings[a], &y = d.bindings[b];
        if (x.buffer == y.buffer && x.offset < y.offset + y.size && y.offset < x.offset + x.size)
          throw Error(ErrorCode::kUnsupported, "webgpu: " + d.variant.entry +
                                                   " binds one tensor twice; the webgpu backend cannot run that yet");
      }
  }

  // Token-id inputs feeding an embedding, with the vocabulary size they must stay below.
  void find_token_inputs() {
    for (const Node& n : g_->nodes())
      if (n.op == Op::kEmbedding && g_->node(n.inputs[1]).op == Op::kInput)
        vocab_[n.inputs[1]] = g_->shape(n.inputs[0])[0];
  }

  std::shared_ptr<const Graph> g_;
  std::shared_ptr<Device> device_;
  MemoryPlan plan_;
  WeightCache& cache_;
  // per node; set for weights, in each layout a kernel reads them
  std::vector<std::array<std::shared_ptr<const GpuWeight>, kWeightLayouts>> weights_;
  Buffer arena_;
  wsd_gpu_program program_ = 0;
  std::vector<ProfiledStep> steps_;  // per dispatch, for profile()
  std::map<TensorId, int64_t> vocab_;
};

class WebGpuBackend final : public Backend {
 public:
  WebGpuBackend() : device_(Device::open()), weights_(device_) {}
  std::string name() const override { return "webgpu (" + device_->description() + ")"; }
  std::unique_ptr<Executable> compile(std::shared_ptr<const Graph> graph) override {
    return std::make_unique<WebGpuExecutable>(std::move(graph), device_, weights_);
  }
  uint64_t max_tensor_bytes() const override { return device_->info().max_storage_buffer_binding_size; }
  uint64_t max_arena_bytes() const override { return device_->info().max_buffer_size; }

 private:
  std::shared_ptr<Device> device_;
  WeightCache weights_;
};

}  // namespace
}  // namespace webgpu

std::unique_ptr<Backend> make_webgpu_backend() { return std::make_unique<webgpu::WebGpuBackend>(); }

}  // namespace websd
