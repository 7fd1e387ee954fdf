// Shared by low_rank_kn.wgsl and low_rank_rows.wgsl: W' = W + up · down (core/low_rank.h), computed from the GPU
// copy of W in its layout, written in the same layout. Once per weight when a LoRA set changes, not per run.

struct Params {
  n: u32,     // rows of W (output channels), N
  k: u32,     // columns: elements per row of W (K-major: K; Winograd: 16 · C)
  npad: u32,  // K-major and Winograd: N rounded up to 4 (the row length of the layout); rows: N
  rank: u32,  // R, the stacked ranks of the LoRA set
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(2) var<storage, read_write> up: array<f32>;    // [npad, R], the scales folded in, zero rows past N
@group(0) @binding(3) var<storage, read_write> down: array<f32>;  // [R, K]
@group(0) @binding(4) var<storage, read_write> dst: array<u32>;   // W' in the layout, as words

fn low_rank(n: u32, k: u32) -> f32 {
  var s = 0.0;
  for (var r = 0u; r < p.rank; r++) { s += up[n * p.rank + r] * down[r * p.k + k]; }
  return s;
}

// A q8 value of W' at `scale`, as a byte (round half to even, like the cpu's quantize_q8).
fn q8_byte(v: f32, scale: f32) -> u32 {
  return u32(i32(clamp(round(v / scale), -127.0, 127.0))) & 0xffu;
}

fn q8_scale(max_abs: f32) -> f32 { return select(1.0, max_abs / 127.0, max_abs > 0.0); }
