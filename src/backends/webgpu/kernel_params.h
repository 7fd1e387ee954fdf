// The uniform blocks of the kernels, mirrored field by field from the `struct Params` of each kernels/*.wgsl file.
// WGSL lays these out as plain 4-byte fields in declaration order; the size checks catch a field added on one side
// only. Keep each a multiple of 16 bytes.
#pragma once

#include <cstdint>

namespace websd::webgpu {

struct ElementwiseParams {  // kernels/elementwise.wgsl
  uint32_t n, d;
  float scale;
  uint32_t pad;
};
static_assert(sizeof(ElementwiseParams) == 16);

struct BinaryParams {  // kernels/binary.wgsl
  uint32_t n, nb, inner, pad;
};
static_assert(sizeof(BinaryParams) == 16);

struct MatmulParams {  // kernels/matmul.wgsl
  uint32_t m, n, k, has_bias;
};
static_assert(sizeof(MatmulParams) == 16);

struct Conv2dParams {  // kernels/conv2d.wgsl
  uint32_t batch, channels, height, width;
  uint32_t out_channels, kernel_h, kernel_w, stride;
  uint32_t pad, out_h, out_w, m;
  uint32_t k, has_bias, pad0, pad1;
};
static_assert(sizeof(Conv2dParams) == 64);

struct LinearParams {  // kernels/linear.wgsl
  uint32_t m, n, k, has_bias;
  uint32_t k_slice, has_residual, pad1, pad2;
};
static_assert(sizeof(LinearParams) == 32);

struct Conv2dGemmParams {  // kernels/conv2d_gemm.wgsl
  uint32_t has_residual, channels, height, width;
  uint32_t out_channels, out_h, out_w, pad;
  uint32_t n, k, has_bias, k_slice;
};
static_assert(sizeof(Conv2dGemmParams) == 48);

struct WinogradParams {  // kernels/winograd.wgsl
  uint32_t channels, height, width, out_channels;
  uint32_t tiles_w, tiles_image, tiles, tile_begin;
  uint32_t chunk, chunk4, has_bias, has_residual;
};
static_assert(sizeof(WinogradParams) == 48);

struct GemmReduceParams {  // kernels/gemm_reduce.wgsl
  uint32_t m, n, slices, has_bias;
  uint32_t spatial, has_residual, pad1, pad2;
};
static_assert(sizeof(GemmReduceParams) == 32);

struct NormParams {  // kernels/norm.wgsl
  uint32_t sets, set_size, channels, inner;
  uint32_t group_channels, silu;
  float eps;
  uint32_t pad;
};
static_assert(sizeof(NormParams) == 32);

struct GroupNormParams {  // kernels/group_norm.wgsl
  uint32_t sets, set_size, channels, inner;
  uint32_t group_channels, silu;
  float eps;
  uint32_t chunks;
};
static_assert(sizeof(GroupNormParams) == 32);

struct AttentionParams {  // kernels/attention.wgsl
  uint32_t batch, lq, lk, channels;
  uint32_t heads, causal;
  float scale;
  uint32_t pad;
};
static_assert(sizeof(AttentionParams) == 32);

struct LayoutParams {  // kernels/layout.wgsl
  uint32_t n, channels, inner, src_channels;
  uint32_t src_begin, dst_channels, dst_begin, pad0;
  uint32_t in_h, in_w, out_h, out_w;
};
static_assert(sizeof(LayoutParams) == 48);

struct EmbeddingParams {  // kernels/embedding.wgsl
  uint32_t n, d, pad0, pad1;
};
static_assert(sizeof(EmbeddingParams) == 16);

struct LowRankParams {  // kernels/low_rank_delta.wgsl
  uint32_t n, k, npad, rank;
};
static_assert(sizeof(LowRankParams) == 16);

}  // namespace websd::webgpu
