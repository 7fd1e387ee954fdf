// Winograd F(4×4, 3×3) for the cpu backend's 3×3, stride-1, padding-1 convolutions (Lavin & Gray, "Fast
// Algorithms for Convolutional Neural Networks"): every 4×4 block of outputs from a 6×6 window of the input in 36
// products instead of 144, so the VAE's and the UNet's large convolutions do a quarter of the multiplies.
//   U = G g Gᵀ     each 3×3 filter to 6×6, per call from the stored weight (f16, q8 or f32)
//   V = Bᵀ d B     each 6×6 input window, for a band of tile rows at a time
//   M[ξ] = U[ξ] · V[ξ]  36 sgemms (O×C times C×tiles), one per position ξ of the 6×6 transform
//   y = Aᵀ M A     back to 4×4 outputs, plus the bias
// Its error against the direct convolution is rounding only (the transforms' coefficients 1/4…1/24 are not exact
// in binary); the op harness holds it to the reference (tests/test_ops.cpp).
#pragma once

#include <cstddef>

#include "backends/cpu/kernel_args.h"

namespace websd::cpu {

// Whether a conv2d can run as Winograd at all (3×3, stride 1, padding 1 on every side).
bool winograd_applies(const Node& n, const Shape& weight_shape);
// Whether "auto" runs it as Winograd: where it measured faster than the direct convolution (winograd.cpp).
bool winograd_wins(const Node& n, const Shape& weight_shape);

// band_rows: FastChoice::winograd_band_rows.
size_t winograd_scratch_bytes(const Node& n, const Shape& weight_shape, int band_rows);
void conv3x3_winograd(const KernelArgs& a);

}  // namespace websd::cpu
