#include "backends/webgpu/lowering.h"

#include <cstring>

#include "backends/webgpu/kernel_choice.h"
#include "backends/webgpu/tuning.h"
#include "backends/webgpu/kernel_params.h"
#include "core/error.h"
#include "core/memory_plan.h"

namespace websd::webgpu {
namespace {

constexpr uint32_t kGemmTile = 64;        // kernels/matmul.wgsl, conv2d.wgsl
constexpr uint32_t kAttentionWorkgroup = 64;

template <typename P>
std::vector<uint8_t> bytes_of(const P& params) {
  std::vector<uint8_t> b(sizeof(P));
  std::memcpy(b.data(), &params, sizeof(P));
  return b;
}

uint32_t u32(int64_t v) { return uint32_t(v); }
uint32_t ceil_div(uint64_t a, uint64_t b) { return uint32_t((a + b - 1) / b); }

std::array<uint32_t, 3> grid_2d(uint32_t x, uint32_t y, const wsd_gpu_info& info, const Node& n) {
  const uint32_t max = info.max_compute_workgroups_per_dimension;
  if (x > max || y > max)
    throw Error(ErrorCode::kUnsupported, std::string("webgpu: ") + op_name(n.op) + " " + n.shape.str() +
                                             " needs more workgroups than maxComputeWorkgroupsPerDimension (" +
                                             std::to_string(max) + "); splitting it is not implemented yet");
  return {x, y, 1};
}

// How flash_attention.wgsl runs a head width: lanes per query row (a row's partial dot products are summed with
// subgroup shuffles, so its lanes must lie in one subgroup) and keys per workgroup-memory tile.
struct FlashShape {
  bool ok = false;
  uint32_t lanes = 1, keys = 0;
};

FlashShape flash_shape(uint32_t head_dim, const wsd_gpu_info& info, uint32_t max_keys, uint32_t rows,
                       uint32_t lane_factor) {
  FlashShape f;
  // About 40 dimensions per lane keeps a row's query, accumulator and 32 scores in registers.
  while (f.lanes < 16 && head_dim > 48 * f.lanes) f.lanes *= 2;
  f.lanes = std::min<uint32_t>(16, f.lanes * lane_factor);
  while (f.lanes > 1 && head_dim % (4 * f.lanes)) f.lanes /= 2;
  if (head_dim % (4 * f.lanes)) return f;  // vec4 chunks per lane
  const uint32_t subgroup = info.subgroup_min_size ? info.subgroup_min_size : 4;  // unknown: the smallest in use
  if (f.lanes > 1 && (!info.has_subgroups || f.lanes > subgroup)) return f;
  if (head_dim / f.lanes * rows > 80) return f;  // too many registers per lane
  // K and V tiles in workgroup memory: 2 · keys · head_dim floats.
  f.keys = std::min<uint32_t>(max_keys, info.max_compute_workgroup_storage_size / (8 * head_dim));
  f.ok = f.keys >= 1;
  return f;
}

constexpr uint32_t kGroupNormChunk = 4096;      // kernels/group_norm.wgsl
constexpr uint32_t kGroupNormFoldChunks = 64;  // kernels/group_norm.wgsl, kMaxFoldChunks

bool software(const wsd_gpu_info& info) { return software_rules(info.is_software != 0); }

// The GroupNorm variant (kernel_choice.h): 1 (group_norm.wgsl) where it applies, H·W a multiple of 4 (its
// vector stores), else 0; one thread per group on software adapters.
int group_norm_variant(const Graph& g, const Node& n, const wsd_gpu_info& info) {
  int v = choice_for(g, n, info).group_norm;
  if (v < 0) v = software(info) ? 2 : 1;
  const int64_t inner = n.shape.numel() / (n.shape[0] * n.shape[1]);
  return v == 1 && inner % 4 != 0 ? 0 : v;
}

// The LayerNorm variant (kernel_choice.h): 0 a workgroup per row, 1 a thread per row on software adapters.
int layer_norm_variant(const Graph& g, const Node& n, const wsd_gpu_info& info) {
  const int v = choice_for(g, n, info).layer_norm;
  return v >= 0 ? v : software(info) ? 1 : 0;
}

bool wide_group_norm(const Graph& g, const Node& n, const wsd_gpu_info& info) {
  return n.op == Op::kGroupNorm && group_norm_variant(g, n, info) == 1;
}

// The wide GroupNorm's uniforms; its scratch holds (mean, M2) per chunk of every set, then (mean, inv_std) per set.
GroupNormParams wide_group_norm_params(const Node& n) {
  const Shape& s = n.shape;
  const int64_t B = s[0], C = s[1], G = n.p.groups, S = s.numel() / (B * C);
  GroupNormParams p{uint32_t(B * G), uint32_t(C / G * S), uint32_t(C), uint32_t(S), uint32_t(C / G),
                    n.p.act == Act::kSilu, n.p.eps, 0};
  p.chunks = ceil_div(p.set_size, kGroupNormChunk);
  return p;
}

uint64_t wide_group_norm_scratch(const GroupNormParams& p) { return uint64_t(p.sets) * (p.chunks + 1) * 8; }

// How a linear or conv2d node runs on the GEMM core: the variant (kernel_choice.h) and, where its tiles alone
// would leave most of the GPU idle, K split into slices whose partial sums gemm_reduce.wgsl adds.
struct GemmPlan {
  int variant = 1;
  bool pointwise = false;  // a 1x1 stride-1 unpadded conv2d with whole vectors of pixels per image
  uint64_t m = 0, n = 0, k = 0;
  uint32_t slices = 1, k_slice = 0;
  uint64_t scratch = 0;  // bytes of partial sums
};

uint64_t tiles_of(const GemmTile& t, uint64_t m, uint64_t n) { return ((m + t.m - 1) / t.m) * ((n + t.n - 1) / t.n); }
// The share of a tiling's outputs beyond the m × n product.
double tile_waste(const GemmTile& t, uint64_t m, uint64_t n) { return double(tiles_of(t, m, n) * t.m * t.n) / double(m * n) - 1.0; }

// The rules below come from the kernel lab on the H200 (js/webgpu-suite.mjs lab; every variant at SD 1.5, VAE and
// SDXL shapes): what matters most is enough workgroups in flight (about 4 per multiprocessor hide the latency of
// the loads), then tile size. So: 128×128 tiles only for convolutions with at least 1024 of them (the VAE's
// large images: 27-28 TFLOP/s against 21 for 64×64), 64×128 where that still gives 512, else 64×64 tiles with
// K split into slices until there are about 512 workgroups (the UNet's low-resolution convolutions went from
// 14 to 23-24 TFLOP/s), each slice keeping at least kMinSliceSteps steps of K.
// Products with vector loads of both operands (linears, pointwise convolutions) are not split from
// kPlainUnsplitTiles tiles up: SDXL's 32×32 attention projections (M=2048 N=1280 K=1280, 320 tiles of 64×128) ran
// 0.254 ms unsplit against 0.344 split in two with their reduce, its feed-forward outputs (K=5120) 0.996 against
// 1.238.
constexpr uint64_t kMinSliceSteps = 12;
constexpr uint64_t kSplitTarget = 512;
constexpr uint64_t kPlainUnsplitTiles = 256;

uint32_t auto_slices(const GemmTile& t, uint64_t m, uint64_t n, uint64_t k, bool plain) {
  const uint64_t tiles = tiles_of(t, m, n);
  if (plain && tiles >= kPlainUnsplitTiles) return 1;
  return uint32_t(std::max<uint64_t>(1, std::min<uint64_t>({(kSplitTarget + tiles - 1) / tiles,
                                                             k / (kMinSliceSteps * t.k), 16})));
}

// `plain`: a linear or a pointwise convolution (vector loads of both operands), where 64x128 tiles won from 256
// of them (SD 1.5's 64x64 level: attention projections 0.078 against 0.084 ms, feed-forward 0.438 against
// 0.471, 1x1 convolutions 0.076 against 0.083).
int auto_gemm_variant(bool conv, bool plain, uint64_t m, uint64_t n) {
  if (conv && !plain && tiles_of(kGemmTiles[2], m, n) >= 1024 && tile_waste(kGemmTiles[2], m, n) < 0.15) return 2;
  if (tiles_of(kGemmTiles[4], m, n) >= (plain ? 256u : 512u) && (conv || plain)) return 4;
  return 1;
}

// Workgroup memory of a GEMM core tile (kernels/gemm_core.wgsl: k-major rows of vec4, each padded by one vec4;
// the direct core has none).
uint64_t gemm_tile_bytes(int variant) {
  const GemmTile& t = kGemmTiles[variant];
  return variant == kGemmDirect ? 0 : 16ull * t.k * (t.m / 4 + 1 + t.n / 4 + 1);
}

GemmPlan plan_gemm(const Graph& g, const Node& n, const wsd_gpu_info& info) {
  GemmPlan p;
  const bool conv = n.op == Op::kConv2d;
  const Shape& ws = g.shape(n.inputs[1]);
  p.k = uint64_t(ws.numel() / ws[0]);
  p.m = conv ? uint64_t(ws[0]) : uint64_t(n.shape.numel() / ws[0]);
  p.n = conv ? uint64_t(n.shape.numel() / ws[0]) : uint64_t(ws[0]);
  const KernelChoice choice = choice_for(g, n, info);
  p.variant = choice.gemm;
  const bool automatic = p.variant < 0;
  p.pointwise = conv && ws[2] == 1 && ws[3] == 1 && n.p.stride == 1 && n.p.pad == 0 && n.p.pad_end == 0 &&
                (n.shape[2] * n.shape[3]) % 4 == 0;
  if (automatic) p.variant = software(info) ? kGemmDirect : auto_gemm_variant(conv, !conv || p.pointwise, p.m, p.n);
  if (p.variant > 0 && gemm_tile_bytes(p.variant) > info.max_compute_workgroup_storage_size)
    p.variant = 1;  // the smallest tile fits every device (8.5 KB; WebGPU guarantees 16 KB)
  if (p.variant == 0) return p;
  const GemmTile t = kGemmTiles[p.variant];
  p.k_slice = uint32_t((p.k + t.k - 1) / t.k * t.k);
  const int forced = choice.gemm_split;
  // Split K fills a GPU's multiprocessors; a CPU adapter has a few cores, and each slice is one more pass.
  const uint64_t want = forced > 0                        ? uint64_t(forced)
                        : automatic && !software(info)   ? auto_slices(t, p.m, p.n, p.k, !conv || p.pointwise)
                                                          : 1;
  if (want > 1) {
    p.k_slice = uint32_t((p.k + want * t.k - 1) / (want * t.k) * t.k);
    p.slices = uint32_t((p.k + p.k_slice - 1) / p.k_slice);
    if (p.slices > 1) p.scratch = uint64_t(p.slices) * p.m * p.n * 4;
  }
  return p;
}

// How a 3×3, stride-1, padding-1 convolution runs as Winograd F(2×2, 3×3) (kernels/winograd*.wgsl): the batch's
// 2×2 output tiles in chunks whose transformed inputs V [16, C, chunk4] and products M [16, O, chunk4] fit the
// scratch budget (and one binding each), and the GEMM core tile of the 16 products.
struct WinogradPlan {
  bool use = false;
  uint32_t tiles_w = 0, tiles_image = 0, tiles = 0, chunk = 0, chunk4 = 0, chunks = 0;
  uint64_t v_bytes = 0, m_bytes = 0;  // per chunk, each a whole number of the planner's alignment
  int gemm = 1;
};

constexpr uint64_t kWinogradScratch = 128ull << 20;  // V and M of one chunk

WinogradPlan plan_winograd(const Graph& g, const Node& n, const wsd_gpu_info& info) {
  WinogradPlan p;
  if (!winograd_applies(g, n)) return p;
  const Shape &xs = g.shape(n.inputs[0]), &ws = g.shape(n.inputs[1]);
  const uint64_t C = uint64_t(ws[1]), O = uint64_t(ws[0]), H = uint64_t(xs[2]), W = uint64_t(xs[3]);
  const KernelChoice choice = choice_for(g, n, info);
  const int v = choice.winograd;
  // From the kernel lab on the H200 (docs/gpu-kernels.md): Winograd won from 16x16 images up (SD 1.5's 1280
  // channels at 16x16: 0.348 against 0.644 ms; the VAE's 512 channels at 256x256: 5.0 against 11.1), also for
  // few outputs (the VAE's conv_out, 128 -> 3 channels: 1.08 against 1.41 ms), and broke even at 8x8 (0.194
  // against 0.210 ms: not worth 16/9 of the weight bytes).
  // On software adapters it won everywhere (tiny-sd1 on SwiftShader: UNet 1.23 against 1.74 s, VAE 1.43 against 3.81).
  if (v == 0 || (v < 0 && !software(info) && !(C >= 64 && H * W >= 16 * 16))) return p;
  p.tiles_w = uint32_t((W + 1) / 2);
  p.tiles_image = uint32_t((H + 1) / 2) * p.tiles_w;
  p.tiles = uint32_t(uint64_t(xs[0]) * p.tiles_image);
  const uint64_t per_tile = 16 * 4 * std::max(C, O);  // bytes of V or M per tile (the larger of the two)
  const uint64_t budget = std::min<uint64_t>(kWinogradScratch / 2, info.max_storage_buffer_binding_size);
  const uint64_t forced = uint64_t(choice.winograd_tiles);
  const uint64_t fit = forced ? (forced + 3) / 4 * 4 : std::max<uint64_t>(4, budget / per_tile / 4 * 4);
  p.chunks = ceil_div(p.tiles, fit);
  p.chunk = ceil_div(p.tiles, p.chunks);  // chunks of equal size
  p.chunk4 = (p.chunk + 3) / 4 * 4;
  p.v_bytes = MemoryPlan::align_up(16 * 4 * C * p.chunk4);
  p.m_bytes = MemoryPlan::align_up(16 * 4 * O * p.chunk4);
  p.gemm = choice.gemm;
  if (p.gemm < 0 && software(info)) p.gemm = kGemmDirect;
  if (p.gemm <= 0) {
    // The products' tiles: 64x128 where they make 1024 workgroups (the VAE, SD 1.5 at 64x64), else 64x64 (its
    // 32x32 and 16x16 levels). The lab had 128x128 ahead for the VAE, but whole decodes on the H200 say otherwise
    // (docs/gpu-kernels.md): SD 1.5's VAE 64.8 ms with 128x128 against 55.7 with 64x128.
    const uint64_t n4 = p.chunk4;
    p.gemm = 16 * tiles_of(kGemmTiles[4], O, n4) >= 1024 ? 4 : 1;
  }
  if (gemm_tile_bytes(p.gemm) > info.max_compute_workgroup_storage_size) p.gemm = 1;
  p.use = true;
  return p;
}

// The GEMM core's stores (kernels/gemm_core.wgsl), unrolled: output (g, r, h) of the thread is acc[(g * 4 + r) *
// column groups + h] at row m0 + (g * 16 + ty) * 4 + r, columns n0 + (h * 16 + tx) * 4 .. + 3.
std::string gemm_epilogue(const GemmTile& t) {
  const uint32_t rows = t.m / 64, cols = t.n / 64;
  std::string out;
  for (uint32_t g = 0; g < rows; ++g)
    for (uint32_t r = 0; r < 4; ++r)
      for (uint32_t h = 0; h < cols; ++h)
        out += "store4(m0 + " + std::to_string(g * 64 + r) + "u + ty * 4u, n0 + " + std::to_string(h * 64) +
               "u + tx * 4u, acc[" + std::to_string((g * 4 + r) * cols + h) + "]);\n  ";
  return out;
}

const char* gemm_core_file(int variant) { return variant == kGemmDirect ? "gemm_direct" : "gemm_core"; }

class Lowerer {
 public:
  Lowerer(const Graph& g, TensorId id, const Locator& where, const Device& device)
      : g_(g), id_(id), n_(g.node(id)), where_(where), device_(device), info_(device.info()) {}

  std::vector<Dispatch> run();

 private:
  TensorRef in(size_t i, WeightLayout layout = WeightLayout::kAsStored) const {
    return where_.tensor(n_.inputs[i], layout);
  }
  TensorRef out() const { return where_.tensor(id_, WeightLayout::kAsStored); }
  TensorRef scratch() const { return where_.scratch(id_); }
  const Shape& in_shape(size_t i) const { return g_.shape(n_.inputs[i]); }
  // linear and conv2d: the bias (or the placeholder, has = false) and the residual (placeholder slot 2 if none).
  TensorRef bias_ref(bool& has) const {
    has = has_bias(n_);
    return has ? in(2) : placeholder();
  }
  TensorRef residual() const { return n_.p.residual ? in(n_.inputs.size() - 1) : placeholder(2); }
  // 16 zero bytes bound where a kernel's operand is absent; another slot for a second absent operand.
  TensorRef placeholder(uint64_t slot = 0) const {
    return TensorRef{device_.placeholder().handle(), slot * Device::kPlaceholderStride, 16, DType::kF32};
  }

  template <typename P>
  Dispatch make(const char* file, const char* entry, const P& params, std::vector<TensorRef> bindings,
                std::array<uint32_t, 3> groups) const {
    Dispatch d;
    d.variant.file = file;
    d.variant.entry = entry;
    d.variant.uniform_bytes = sizeof(P);
    d.variant.storage_bindings = uint32_t(bindings.size());
    d.bindings = std::move(bindings);
    d.uniforms = bytes_of(params);
    d.groups = groups;
    return d;
  }

  std::vector<Dispatch> gemm(bool conv) const;
  Dispatch gemm_core(bool conv, const GemmPlan& plan) const;
  std::vector<Dispatch> winograd(const WinogradPlan& plan) const;
  Dispatch gemm_plain(bool conv) const;
  Dispatch norm() const;
  std::vector<Dispatch> group_norm_wide() const;
  Dispatch binary(const char* entry) const;
  Dispatch elementwise(const char* entry) const;
  Dispatch attention() const;
  Dispatch copy_channels(size_t input, int64_t src_begin, int64_t dst_begin, int64_t channels) const;
  Dispatch layout(const char* entry) const;
  Dispatch embedding() const;

  const Graph& g_;
  TensorId id_;
  const Node& n_;
  const Locator& where_;
  const Device& device_;
  const wsd_gpu_info& info_;
};

std::vector<Dispatch> Lowerer::gemm(bool conv) const {
  const GemmPlan plan = plan_gemm(g_, n_, info_);
  std::vector<Dispatch> d;
  d.push_back(plan.variant == 0 ? gemm_plain(conv) : gemm_core(conv, plan));
  if (plan.variant == 0 && n_.p.residual) {  // the plain kernels have no epilogue for it
    ElementwiseParams p{u32(n_.shape.numel()), 0, 1.0f, 0};
    d.push_back(make("elementwise", "accumulate", p, {residual(), out()}, flat_grid(p.n, kFlatWorkgroup, info_)));
  }
  if (plan.slices > 1) {
    bool has_bias = false;
    const TensorRef bias = bias_ref(has_bias);
    const uint32_t spatial = conv ? u32(n_.shape[2] * n_.shape[3]) : 0;
    GemmReduceParams p{u32(plan.m), u32(plan.n), plan.slices, has_bias, spatial, n_.p.residual, 0, 0};
    Dispatch r = make("gemm_reduce", "gemm_reduce", p, {scratch(), bias, out(), residual()},
                      flat_grid(plan.m * plan.n, kFlatWorkgroup, info_));
    r.variant.weights = {{"bias", bias.dtype}};
    d.push_back(std::move(r));
  }
  const Shape& ws = in_shape(1);
  for (Dispatch& x : d) {
    x.shape = "M=" + std::to_string(plan.m) + " N=" + std::to_string(plan.n) + " K=" + std::to_string(plan.k);
    x.label = (conv ? "conv2d " + std::to_string(ws[2]) + "x" + std::to_string(ws[3]) +
                          (n_.p.stride > 1 ? " s" + std::to_string(n_.p.stride) : "")
                    : std::string("linear")) +
              " v" + std::to_string(plan.variant) +
              (plan.slices > 1 ? " split" + std::to_string(plan.slices) : "") +
              (x.variant.entry == "gemm_reduce" ? " reduce" : x.variant.entry == "accumulate" ? " residual" : "");
  }
  return d;
}

std::vector<Dispatch> Lowerer::winograd(const WinogradPlan& plan) const {
  bool has_bias = false;
  const TensorRef x = in(0), u = in(1, WeightLayout::kWinograd), bias = bias_ref(has_bias), s = scratch();
  const TensorRef v{s.buffer, s.offset, plan.v_bytes, DType::kF32}, m{s.buffer, s.offset + plan.v_bytes, plan.m_bytes, DType::kF32};
  const Shape& xs = in_shape(0);
  const uint32_t C = u32(xs[1]), O = u32(n_.shape[1]);
  const GemmTile tile = kGemmTiles[plan.gemm];
  const std::string size = "M=" + std::to_string(O) + " N=" + std::to_string(plan.tiles) + "x16 K=" + std::to_string(C);
  const double flops = g_.node_flops(n_);
  std::vector<Dispatch> list;
  for (uint32_t chunk = 0; chunk < plan.chunks; ++chunk) {
    WinogradParams p{C, u32(xs[2]), u32(xs[3]), O, plan.tiles_w, plan.tiles_image, plan.tiles, chunk * plan.chunk,
                     plan.chunk, plan.chunk4, has_bias, n_.p.residual};
    const uint32_t tiles = std::min(plan.chunk, plan.tiles - p.tile_begin);
    Dispatch in_t = make("winograd_input", "winograd_input", p, {x, v}, flat_grid(uint64_t(C) * plan.chunk4, kFlatWorkgroup, info_));
    std::array<uint32_t, 3> grid = grid_2d(ceil_div(plan.chunk4, tile.n), ceil_div(O, tile.m), info_, n_);
    grid[2] = 16;
    Dispatch product = make("winograd_gemm", "winograd_gemm", p, {u, v, m}, grid);
    product.variant.constants = {{"TILE_M", std::to_string(tile.m)}, {"TILE_N", std::to_string(tile.n)},
                                 {"TILE_K", std::to_string(tile.k)}, {"EPILOGUE", gemm_epilogue(tile)},
                                 {"A_TILE", "gemm_a_rows"}, {"GEMM_CORE", gemm_core_file(plan.gemm)}};
    product.variant.weights = {{"u", u.dtype}};
    product.flops = flops * tiles / plan.tiles;
    Dispatch out_t = make("winograd_output", "winograd_output", p, {m, bias, out(), residual()}, flat_grid(uint64_t(O) * plan.chunk, kFlatWorkgroup, info_));
    out_t.variant.weights = {{"bias", bias.dtype}};
    in_t.label = "conv2d 3x3 winograd input";
    product.label = "conv2d 3x3 winograd v" + std::to_string(plan.gemm);
    out_t.label = "conv2d 3x3 winograd output";
    for (Dispatch* d : {&in_t, &product, &out_t}) {
      d->shape = size;
      list.push_back(std::move(*d));
    }
  }
  return list;
}

Dispatch Lowerer::gemm_core(bool conv, const GemmPlan& plan) const {
  bool has_bias = false;
  const TensorRef x = in(0), w = in(1, WeightLayout::kKMajor), bias = bias_ref(has_bias);
  const GemmTile tile = kGemmTiles[plan.variant];
  const bool split = plan.slices > 1;
  const TensorRef partial = split ? scratch() : placeholder(1);
  // The residual is added where the output is written: here, or in the reduce of a split product.
  const uint32_t fuse_residual = n_.p.residual && !split;
  const TensorRef res = fuse_residual ? residual() : placeholder(2);
  // Both kernels: workgroups along x over N tiles, y over M tiles, z over K slices.
  std::array<uint32_t, 3> grid = grid_2d(ceil_div(plan.n, tile.n), ceil_div(plan.m, tile.m), info_, n_);
  grid[2] = plan.slices;
  Dispatch d;
  if (conv) {
    const Shape &xs = in_shape(0), &ws = in_shape(1), &ys = n_.shape;
    Conv2dGemmParams p{fuse_residual, u32(xs[1]), u32(xs[2]), u32(xs[3]), u32(plan.m), u32(ys[2]), u32(ys[3]),
                       u32(n_.p.pad), u32(plan.n), u32(plan.k), has_bias, plan.k_slice};
    d = make("conv2d_gemm", "conv2d", p, {x, w, bias, out(), partial, res}, grid);
    d.variant.constants = {{"KH", std::to_string(ws[2])}, {"KW", std::to_string(ws[3])},
                           {"STRIDE", std::to_string(n_.p.stride)},
                           {"B_LOADS", plan.pointwise ? "conv2d_pointwise" : "conv2d_im2col"},  // vector B loads
                           {"A_TILE", "gemm_a_rows"}};
  } else {
    LinearParams p{u32(plan.m), u32(plan.n), u32(plan.k), has_bias, plan.k_slice, fuse_residual, 0, 0};
    d = make("linear", "linear", p, {x, w, bias, out(), partial, res}, grid);
    const bool rows4 = plan.k % 4 == 0 && choice_for(g_, n_, info_).linear_a != 0;
    d.variant.constants["X_LOADS"] = rows4 ? "linear_x4" : "linear_x";
    d.variant.constants["A_TILE"] = rows4 ? "gemm_a_k" : "gemm_a_rows";
  }
  d.variant.constants["TILE_M"] = std::to_string(tile.m);
  d.variant.constants["TILE_N"] = std::to_string(tile.n);
  d.variant.constants["TILE_K"] = std::to_string(tile.k);
  d.variant.constants["SPLIT"] = split ? "true" : "false";
  d.variant.constants["EPILOGUE"] = gemm_epilogue(tile);
  d.variant.constants["GEMM_CORE"] = gemm_core_file(plan.variant);
  d.variant.weights = {{"w", w.dtype}, {"bias", bias.dtype}};
  return d;
}

// The plain first GEMM kernels (variant 0).
Dispatch Lowerer::gemm_plain(bool conv) const {
  bool has_bias = false;
  const TensorRef x = in(0), w = in(1), bias = bias_ref(has_bias);
  std::vector<TensorRef> bindings{x, w, bias, out()};
  Dispatch d;
  if (conv) {
    const Shape &xs = in_shape(0), &ws = in_shape(1), &ys = n_.shape;
    Conv2dParams p{u32(xs[0]), u32(xs[1]), u32(xs[2]), u32(xs[3]), u32(ws[0]), u32(ws[2]), u32(ws[3]),
                   u32(n_.p.stride), u32(n_.p.pad), u32(ys[2]), u32(ys[3]), u32(ys[0] * ys[2] * ys[3]),
                   u32(ws[1] * ws[2] * ws[3]), has_bias, 0, 0};
    d = make("conv2d", "conv2d", p, bindings,
             grid_2d(ceil_div(p.out_channels, kGemmTile), ceil_div(p.m, kGemmTile), info_, n_));
  } else {
    const int64_t N = in_shape(1)[0], K = in_shape(1)[1];
    MatmulParams p{u32(n_.shape.numel() / N), u32(N), u32(K), has_bias};
    d = make("matmul", "linear", p, bindings, grid_2d(ceil_div(p.n, kGemmTile), ceil_div(p.m, kGemmTile), info_, n_));
  }
  d.variant.weights = {{"w", w.dtype}, {"bias", bias.dtype}};
  return d;
}

Dispatch Lowerer::norm() const {
  const Shape& s = n_.shape;
  NormParams p;
  const char* entry;
  if (n_.op == Op::kGroupNorm) {
    const int64_t B = s[0], C = s[1], G = n_.p.groups, S = s.numel() / (B * C);
    p = {u32(B * G), u32(C / G * S), u32(C), u32(S), u32(C / G), n_.p.act == Act::kSilu, n_.p.eps, 0};
    entry = "group_norm";
  } else {
    const int64_t C = s.dims.back();
    p = {u32(s.numel() / C), u32(C), u32(C), 1, 1, 0, n_.p.eps, 0};
    entry = "layer_norm";
  }
  // One thread per set (group_norm variant 2, layer_norm 1): no barriers, for software adapters.
  const bool serial =
      n_.op == Op::kGroupNorm ? group_norm_variant(g_, n_, info_) == 2 : layer_norm_variant(g_, n_, info_) == 1;
  const TensorRef gamma = in(1), beta = in(2);
  Dispatch d = serial ? make("norm", (std::string(entry) + "_serial").c_str(), p, {in(0), gamma, beta, out()},
                             flat_grid(p.sets, kFlatWorkgroup, info_))
                      : make("norm", entry, p, {in(0), gamma, beta, out()}, grid_2d(p.sets, 1, info_, n_));
  d.variant.weights = {{"gamma", gamma.dtype}, {"beta", beta.dtype}};
  if (n_.op == Op::kLayerNorm) d.label = serial ? "layer_norm v1" : "layer_norm v0";
  return d;
}

std::vector<Dispatch> Lowerer::group_norm_wide() const {
  const Shape& s = n_.shape;
  const GroupNormParams p = wide_group_norm_params(n_);
  const TensorRef gamma = in(1), beta = in(2);
  std::vector<TensorRef> bindings{in(0), gamma, beta, out(), scratch()};
  std::vector<Dispatch> d{make("group_norm", "group_norm_partial", p, bindings, grid_2d(p.chunks, p.sets, info_, n_))};
  // Few chunks a set: the apply pass combines them itself (kernels/group_norm.wgsl, kMaxFoldChunks), one
  // dispatch fewer; the VAE's largest images keep the separate finish.
  if (p.chunks <= kGroupNormFoldChunks && p.set_size >= 1024) {
    d.push_back(make("group_norm", "group_norm_apply_folded", p, bindings, flat_grid(s.numel() / 4, kFlatWorkgroup, info_)));
  } else {
    d.push_back(make("group_norm", "group_norm_finish", p, bindings, flat_grid(p.sets, kFlatWorkgroup, info_)));
    d.push_back(make("group_norm", "group_norm_apply", p, bindings, flat_grid(s.numel() / 4, kFlatWorkgroup, info_)));
  }
  for (Dispatch& x : d) {
    x.variant.weights = {{"gamma", gamma.dtype}, {"beta", beta.dtype}};
    x.label = x.variant.entry + " v1";
  }
  return d;
}

Dispatch Lowerer::binary(const char* entry) const {
  const Shape& s = n_.shape;
  const TensorRef b = in(1);
  BinaryParams p{u32(s.numel()), u32(in_shape(1).numel()), n_.op == Op::kAddChannel ? u32(s[2] * s[3]) : 1, 0};
  Dispatch d = make("binary", entry, p, {in(0), b, out()},
                    flat_grid(p.n, kFlatWorkgroup, info_));
  d.variant.weights = {{"b", b.dtype}};
  return d;
}

Dispatch Lowerer::elementwise(const char* entry) const {
  ElementwiseParams p{u32(n_.shape.numel()), u32(n_.shape.dims.back()), n_.p.scale, 0};
  return make("elementwise", entry, p, {in(0), out()}, flat_grid(p.n, kFlatWorkgroup, info_));
}

Dispatch Lowerer::attention() const {
  const Shape &qs = in_shape(0), &ks = in_shape(1);
  AttentionParams p{u32(qs[0]), u32(qs[1]), u32(ks[1]), u32(qs[2]), u32(n_.p.heads), n_.p.causal, n_.p.scale, 0};
  const uint32_t head_dim = p.channels / p.heads;
  int v = choice_for(g_, n_, info_).attention;
  // Variants 3 and 4: two query rows per thread (each key chunk read from workgroup memory feeds both), 4 with
  // twice the lanes per row (half the registers per lane). From the H200 lab: 3 for long self-attention at
  // narrow heads (SD 1.5's d40 at L=4096: 1.48 against 2.01 ms for 2) and for the VAE's d512 (2.61 against
  // 4.54); 1 for SDXL's d64 at L=4096 (4.11 against 4.38 for 4); 4 everywhere else (cross-attention 0.066
  // against 0.095 ms, d80 and d160 self-attention, the text encoder).
  if (v < 0 && software(info_)) v = 0;  // no barriers: one thread per query row
  if (v < 0)
    v = (head_dim <= 48 && p.lk >= 1024) || head_dim >= 256 ? 3 : head_dim == 64 && p.lk >= 1024 ? 1 : 4;
  FlashShape flash = flash_shape(head_dim, info_, v == 1 ? 32 : 16, v >= 3 ? 2 : 1, v == 4 ? 2 : 1);
  if (!flash.ok && v >= 3) {
    v = 2;
    flash = flash_shape(head_dim, info_, 16, 1, 1);
  }
  if (!flash.ok) v = 0;
  const uint32_t rows = v >= 3 ? 2 : 1;  // query rows per thread
  Dispatch d;
  if (v >= 1) {
    d = make("flash_attention", "flash_attention", p, {in(0), in(1), in(2), out()},
             grid_2d(ceil_div(p.lq, 256 / flash.lanes * rows), p.batch * p.heads, info_, n_));
    std::string row_sum;
    for (uint32_t x = 1; x < flash.lanes; x *= 2) row_sum += "s += subgroupShuffleXor(s, " + std::to_string(x) + "u);";
    d.variant.constants = {{"HEAD_DIM", std::to_string(head_dim)}, {"LANES", std::to_string(flash.lanes)},
                           {"KEYS", std::to_string(flash.keys)}, {"ROWS", std::to_string(rows)},
                           {"ROW_SUM", row_sum},
                           {"ENABLE", flash.lanes > 1 ? "enable subgroups;" : ""}};
  } else {
    d = make("attention", "attention", p, {in(0), in(1), in(2), out()},
             flat_grid(uint64_t(p.batch) * p.heads * p.lq, kAttentionWorkgroup, info_));
    d.variant.constants = {{"HEAD_DIM", std::to_string(head_dim)}};
  }
  d.label = "attention d" + std::to_string(head_dim) + " v" + std::to_string(v);
  d.shape = "B·H=" + std::to_string(p.batch * p.heads) + " Lq=" + std::to_string(p.lq) + " Lk=" + std::to_string(p.lk);
  return d;
}

// y[:, dst_begin + c] = x[:, src_begin + c] for c < channels, x being input `input`.
Dispatch Lowerer::copy_channels(size_t input, int64_t src_begin, int64_t dst_begin, int64_t channels) const {
  const Shape& xs = in_shape(input);
  const int64_t inner = xs.numel() / (xs[0] * xs[1]);
  LayoutParams p{};
  p.n = u32(xs[0] * channels * inner);
  p.channels = u32(channels);
  p.inner = u32(inner);
  p.src_channels = u32(xs[1]);
  p.src_begin = u32(src_begin);
  p.dst_channels = u32(n_.shape[1]);
  p.dst_begin = u32(dst_begin);
  return make("layout", "copy_channels", p, {in(input), out()},
              flat_grid(p.n, kFlatWorkgroup, info_));
}

Dispatch Lowerer::layout(const char* entry) const {
  const Shape& s = n_.shape;
  LayoutParams p{};
  p.n = u32(s.numel());
  if (n_.op == Op::kUpsample) {
    p.in_h = u32(in_shape(0)[2]);
    p.in_w = u32(in_shape(0)[3]);
    p.out_h = u32(s[2]);
    p.out_w = u32(s[3]);
  } else {  // to_tokens [B,C,H,W] -> [B,S,C]; to_image [B,S,C] -> [B,C,H,W]
    const Shape& image = n_.op == Op::kToTokens ? in_shape(0) : s;
    p.channels = u32(image[1]);
    p.inner = u32(image[2] * image[3]);
  }
  return make("layout", entry, p, {in(0), out()}, flat_grid(p.n, kFlatWorkgroup, info_));
}

Dispatch Lowerer::embedding() const {
  const TensorRef table = in(0);
  EmbeddingParams p{u32(n_.shape.numel()), u32(in_shape(0)[1]), 0, 0};
  Dispatch d = make("embedding", "embedding", p, {table, in(1), out()},
                    flat_grid(p.n, kFlatWorkgroup, info_));
  d.variant.weights = {{"table", table.dtype}};
  return d;
}

std::vector<Dispatch> Lowerer::run() {
  switch (n_.op) {
    case Op::kLinear: return gemm(false);
    case Op::kConv2d: {
      const WinogradPlan w = plan_winograd(g_, n_, info_);
      return w.use ? winograd(w) : gemm(true);
    }
    case Op::kGroupNorm:
      if (wide_group_norm(g_, n_, info_)) return group_norm_wide();
      return {norm()};
    case Op::kLayerNorm: return {norm()};
    case Op::kAdd: return {binary("add")};
    case Op::kAddChannel: return {binary("add_channel")};
    case Op::kMul: return {binary("mul")};
    case Op::kScale: return {elementwise("scale")};
    case Op::kSilu: return {elementwise("silu")};
    case Op::kGelu: return {elementwise("gelu")};
    case Op::kRelu: return {elementwise("relu")};
    case Op::kQuickGelu: return {elementwise("quick_gelu")};
    case Op::kGeglu: return {elementwise("geglu")};
    case Op::kAttention: return {attention()};
    case Op::kUpsample: return {layout("upsample_nearest")};
    case Op::kConcat: {
      const int64_t ca = in_shape(0)[1], cb = in_shape(1)[1];
      return {copy_channels(0, 0, 0, ca), copy_channels(1, 0, ca, cb)};
    }
    case Op::kSlice: return {copy_channels(0, n_.p.begin, 0, n_.p.end - n_.p.begin)};
    case Op::kToTokens: return {layout("to_tokens")};
    case Op::kToImage: return {layout("to_image")};
    case Op::kEmbedding: return {embedding()};
    case Op::kInput:
    case Op::kWeight: return {};
  }
  throw Error(ErrorCode::kInternal, std::string("webgpu: no kernel for ") + op_name(n_.op));
}

}  // namespace

std::array<uint32_t, 3> flat_grid(uint64_t threads, uint32_t per_group, const wsd_gpu_info& info) {
  const uint64_t groups = (threads + per_group - 1) / per_group;
  const uint32_t max = info.max_compute_workgroups_per_dimension;
  const uint32_t x = uint32_t(std::min<uint64_t>(groups, max));
  const uint64_t y = (groups + x - 1) / x;
  if (y > max)
    throw Error(ErrorCode::kUnsupported, "webgpu: an op needs " + std::to_string(threads) +
                                             " threads, more than one dispatch holds; splitting it is not implemented yet");
  return {x, uint32_t(y), 1};
}

bool winograd_applies(const Graph& g, const Node& n) {
  if (n.op != Op::kConv2d) return false;
  const Shape& ws = g.shape(n.inputs[1]);
  const Node& w = g.node(n.inputs[1]);
  if (ws[2] != 3 || ws[3] != 3 || n.p.stride != 1 || n.p.pad != 1 || n.p.pad_end != 1) return false;
  // q8 weights stay on the direct kernels: their int8 values do not survive the transform.
  return w.op == Op::kWeight && g.weights()[size_t(w.weight)].dtype != DType::kI8;
}

size_t scratch_bytes(const Graph& g, const Node& n, const wsd_gpu_info& info) {
  if (const WinogradPlan w = plan_winograd(g, n, info); w.use) return size_t(w.v_bytes + w.m_bytes);
  if (n.op == Op::kLinear || n.op == Op::kConv2d) return size_t(plan_gemm(g, n, info).scratch);
  return wide_group_norm(g, n, info) ? size_t(wide_group_norm_scratch(wide_group_norm_params(n))) : 0;
}

std::vector<Dispatch> lower_node(const Graph& g, TensorId node, const Locator& where, const Device& device) {
  std::vector<Dispatch> out = Lowerer(g, node, where, device).run();
  const Node& n = g.node(node);
  for (Dispatch& d : out) {
    if (d.label.empty()) d.label = d.variant.entry;
    if (d.shape.empty()) d.shape = n.shape.str();
  }
  // The node's arithmetic belongs to its first dispatch (the product; a split-K reduce or a norm's passes add
  // none), unless the lowering shared it out itself (Winograd: among the chunks' products).
  bool shared = false;
  for (const Dispatch& d : out) shared |= d.flops > 0;
  if (!out.empty() && !shared) out.front().flops = g.node_flops(n);
  return out;
}

}  // namespace websd::webgpu
