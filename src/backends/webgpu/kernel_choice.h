// Which variant of each kernel family the lowering uses. "auto" picks by problem size (lowering.cpp); a number
// forces one of the numbered variants, as the kernel lab (js/kernel-lab.mjs) and the benchmarks do to compare
// them. The numbers are the lab's: see the tables below and tests/web/kernel_lab.cpp.
#pragma once

#include <cstdint>
#include <string>

namespace websd::webgpu {

// GEMM variants (linear and conv2d). 0 is the plain first kernel (kernels/matmul.wgsl, conv2d.wgsl: 64×64
// tiles, scalar loads, per-element index arithmetic); 1..6 are the register-tiled core (kernels/gemm_core.wgsl)
// at one tile shape each, weights laid out K-major at upload; 7 (kGemmDirect) computes the same 64×64 tiles
// without workgroup memory or barriers (kernels/gemm_direct.wgsl), for adapters that run on the CPU.
struct GemmTile {
  uint32_t m, n, k;
};
constexpr GemmTile kGemmTiles[] = {{0, 0, 0},     {64, 64, 16},   {128, 128, 8}, {128, 64, 16},
                                   {64, 128, 16}, {128, 128, 16}, {64, 64, 32},  {64, 64, 4}};
constexpr int kGemmVariants = int(sizeof(kGemmTiles) / sizeof(kGemmTiles[0]));
constexpr int kGemmDirect = 7;

// Attention: 0 one thread per query row (kernels/attention.wgsl); 1 flash attention in workgroup tiles of up to
// 32 keys (kernels/flash_attention.wgsl); 2 the same with 16-key tiles (16 fewer score registers per thread); 3 as 2
// with two query rows per thread; 4 as 3 with twice the lanes per row.
constexpr int kAttentionVariants = 5;
// GroupNorm: 0 one workgroup per group; 1 statistics as a wide two-level reduction, then a flat normalise; 2 one
// thread per group (no barriers: for adapters that run on the CPU). LayerNorm: 0 one workgroup per row; 1 one
// thread per row.
constexpr int kGroupNormVariants = 3;
constexpr int kLayerNormVariants = 2;

// 3×3 stride-1 convolutions: 0 direct (the GEMM family above); 1 Winograd F(2×2, 3×3) (kernels/winograd*.wgsl:
// 16 multiplies per 2×2 outputs instead of 36, the weights transformed once at upload, f16 weights staying f16).
constexpr int kWinogradVariants = 2;

struct KernelChoice {
  int gemm = -1;  // -1: auto
  int gemm_split = 0;  // 0: auto (split K only where tiles alone underfill the GPU); N: N slices where K allows
  int attention = -1;
  int group_norm = -1;
  int layer_norm = -1;
  int winograd = -1;
  int linear_a = -1;       // linear's x loads: 0 four rows gathered per vector; 1 vectors along K (K % 4 == 0); -1 auto
  int winograd_tiles = 0;  // 0: auto (chunks fill the scratch budget); N: at most N (rounded up to 4) tiles a chunk
  // Which rules "auto" follows: -1 the adapter's kind; 0 a GPU's; 1 those of an adapter that runs compute on
  // the CPU (SwiftShader), where a barrier switches every invocation of the workgroup (kernels without
  // workgroup memory win there: attention 0, GEMM kGemmDirect, norms one thread per set, no split K).
  int software = -1;
};

// Whether "auto" follows the software rules on an adapter (KernelChoice::software).
bool software_rules(bool adapter_is_software);

// A choice read from "gemm=2,gemm_split=3,attention=1,winograd=0" (unnamed families stay auto; "" = all auto);
// throws Error(kInvalidArgument) naming what it does not know.
KernelChoice parse_kernel_choice(const std::string& spec);
// The choice forced on every node new executables lower (the kernel lab, the benchmarks' --kernels): it goes
// before a tuned choice (tuning.h), family by family.
void set_kernel_choice(const std::string& spec);
void set_kernel_choice(const KernelChoice& choice);
const KernelChoice& kernel_choice();
// `forced` with every family it leaves automatic taken from `tuned`.
KernelChoice merged(const KernelChoice& forced, const KernelChoice& tuned);

}  // namespace websd::webgpu
