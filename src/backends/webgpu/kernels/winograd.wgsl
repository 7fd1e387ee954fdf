// The uniforms and tile numbering shared by the three kernels of a Winograd F(2×2, 3×3) convolution (3×3 kernel,
// stride 1, padding 1, NCHW), which computes
// each 2×2 block of outputs from a 4×4 block of inputs with 16 multiplies per channel pair instead of 36:
//   V = Bᵀ d B   per input channel and tile (winograd_input.wgsl),
//   M[ξ] = U[ξ] · V[ξ]   16 GEMMs over channels, ξ = one of the 4×4 transformed positions (winograd_gemm.wgsl),
//   y = Aᵀ M A + bias   per output channel and tile (winograd_output.wgsl),
// U = G g Gᵀ being the weight, transformed once at upload (webgpu_backend.cpp, upload_winograd). Tiles are
// numbered over the batch (b, ty, tx); a large convolution runs in chunks of `chunk` tiles from `tile_begin`, so
// that V and M (16 values per channel and tile each) fit the planned scratch. V is [16, C, chunk4] and M
// [16, O, chunk4], chunk4 the chunk rounded up to whole vec4 (V is zero beyond the chunk).

struct Params {
  channels: u32,
  height: u32,      // input = output size
  width: u32,
  out_channels: u32,
  tiles_w: u32,     // ceil(width / 2)
  tiles_image: u32, // tiles per image: ceil(height / 2) · tiles_w
  tiles: u32,       // tiles of the whole batch
  tile_begin: u32,  // the chunk's first tile
  chunk: u32,       // tiles in the chunk (the last may have fewer: tile_begin + chunk > tiles)
  chunk4: u32,      // chunk rounded up to a multiple of 4 (the row length of V and M)
  has_bias: u32,
  has_residual: u32,  // winograd_output: y += r (binding 4, res) after the bias
}

@group(0) @binding(0) var<uniform> p: Params;

// (image, top row, left column) of the outputs of tile t of the batch.
fn tile_origin(t: u32) -> vec3u {
  let b = t / p.tiles_image;
  let r = t % p.tiles_image;
  return vec3u(b, (r / p.tiles_w) * 2u, (r % p.tiles_w) * 2u);
}
