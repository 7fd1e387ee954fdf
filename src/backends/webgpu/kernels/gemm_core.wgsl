// The register-tiled GEMM core that linear.wgsl, conv2d_gemm.wgsl and winograd_gemm.wgsl include (GEMM_CORE;
// gemm_direct.wgsl is the same interface without workgroup memory):
// C[M, N] = A[M, K] · B[K, N] for one workgroup's TILE_M × TILE_N tile, 256 threads as 16 × 16, each thread
// (TILE_M / 16) × (TILE_N / 16) outputs held as vec4 columns. The including file supplies
//   fn load_a4(m: u32, k: u32, i: u32) -> vec4f   A[m .. m+3, k] (zero outside)
//   fn load_b4(k: u32, n: u32, i: u32) -> vec4f   B[k, n .. n+3] (zero outside)
//   fn prepare_a(m: u32, i: u32), prepare_b(n: u32, i: u32)
//                                          called once before the K loop for each of the thread's loads i
//                                          (whose m, resp. n, stays the same for every K step): per-thread
//                                          index arithmetic done once instead of every step
//   fn store4(m: u32, n: u32, v: vec4f)   C[m, n .. n+3] (the epilogue: bias, bounds, layout)
// and the constant kAKFast (true when A is K-contiguous in memory, so that neighbouring threads load
// neighbouring k; else they load neighbouring m). With A_TILE = gemm_a_k instead of load_a4:
//   fn load_a_k4(m: u32, k: u32) -> vec4f  A[m, k .. k+3] (zero outside; K a multiple of 4).
//
// Per K step of TILE_K: every thread loads its share of the next A and B tiles into registers while it computes
// on the current ones from workgroup memory (a register prefetch: global loads overlap the FMAs), then stores
// them after a barrier. Tiles are k-major rows of vec4, each row padded by one vec4 so that the k-strided stores
// of K-contiguous operands fall in different banks; reads are then one broadcast vec4 of A and a conflict-free
// run of vec4 of B per k.

const kTileM = {{TILE_M}}u;
const kTileN = {{TILE_N}}u;
const kTileK = {{TILE_K}}u;
const kRowGroups = kTileM / 64u;  // vec4 row groups per thread (rows ty*4 .. +3, then 64 further)
const kColGroups = kTileN / 64u;  // vec4 column groups per thread
const kStrideA = kTileM / 4u + 1u;  // vec4 per k row of tile_a, padded
const kStrideB = kTileN / 4u + 1u;
const kLoadsA = kTileK * kTileM / 1024u;  // vec4 loads per thread per K step
const kLoadsB = kTileK * kTileN / 1024u;

var<workgroup> tile_a: array<vec4f, kTileK * kStrideA>;
var<workgroup> tile_b: array<vec4f, kTileK * kStrideB>;

// How A reaches the tile (A_TILE: gemm_a_rows.wgsl, vectors along m; gemm_a_k.wgsl, vectors along k):
//   fn a_row(t, i) -> u32                 the tile row offset (m - m0) of load i of thread t, for prepare_a
//   fn fetch_a(m0, k0, t, i) -> vec4f     load i of thread t for the K step at k0
//   fn stage_a(t, i, v)                   ... stored into tile_a
{{include A_TILE}}

fn b_slot(t: u32, i: u32) -> vec2u {
  let e = t + i * 256u;
  return vec2u(e / (kTileN / 4u), e % (kTileN / 4u));
}

// The thread's outputs for the tile at (m0, n0), summed over k in [k_begin, k_end) (all of K, or one slice of
// a split-K product): acc[(g * 4 + r) * kColGroups + h] holds C[m0 + (g * 16 + ty) * 4 + r, n0 + (h * 16 + tx) *
// 4 .. + 3]. k_begin is a multiple of TILE_K.
fn gemm_tile(m0: u32, n0: u32, k_begin: u32, k_end: u32, t: u32) {
  let tx = t % 16u;
  let ty = t / 16u;
  var acc: array<vec4f, 4u * kRowGroups * kColGroups>;
  var next_a: array<vec4f, kLoadsA>;
  var next_b: array<vec4f, kLoadsB>;
  for (var i = 0u; i < kLoadsA; i++) {
    prepare_a(m0 + a_row(t, i), i);
    next_a[i] = fetch_a(m0, k_begin, t, i);
  }
  for (var i = 0u; i < kLoadsB; i++) {
    let s = b_slot(t, i);
    prepare_b(n0 + s.y * 4u, i);
    next_b[i] = load_b4(k_begin + s.x, n0 + s.y * 4u, i);
  }
  for (var k0 = k_begin; k0 < k_end; k0 += kTileK) {
    workgroupBarrier();
    for (var i = 0u; i < kLoadsA; i++) { stage_a(t, i, next_a[i]); }
    for (var i = 0u; i < kLoadsB; i++) {
      let s = b_slot(t, i);
      tile_b[s.x * kStrideB + s.y] = next_b[i];
    }
    workgroupBarrier();
    let k1 = k0 + kTileK;
    if (k1 < k_end) {
      for (var i = 0u; i < kLoadsA; i++) { next_a[i] = fetch_a(m0, k1, t, i); }
      for (var i = 0u; i < kLoadsB; i++) {
        let s = b_slot(t, i);
        next_b[i] = load_b4(k1 + s.x, n0 + s.y * 4u, i);
      }
    }
    for (var kk = 0u; kk < kTileK; kk++) {
      var a: array<vec4f, kRowGroups>;
      var b: array<vec4f, kColGroups>;
      for (var g = 0u; g < kRowGroups; g++) { a[g] = tile_a[kk * kStrideA + g * 16u + ty]; }
      for (var h = 0u; h < kColGroups; h++) { b[h] = tile_b[kk * kStrideB + h * 16u + tx]; }
      for (var g = 0u; g < kRowGroups; g++) {
        for (var h = 0u; h < kColGroups; h++) {
          let base = g * 4u * kColGroups + h;
          acc[base] = fma(vec4f(a[g].x), b[h], acc[base]);
          acc[base + kColGroups] = fma(vec4f(a[g].y), b[h], acc[base + kColGroups]);
          acc[base + 2u * kColGroups] = fma(vec4f(a[g].z), b[h], acc[base + 2u * kColGroups]);
          acc[base + 3u * kColGroups] = fma(vec4f(a[g].w), b[h], acc[base + 3u * kColGroups]);
        }
      }
    }
  }
  // The epilogue is every store4 of the thread's outputs spelled out with constant indices (lowering.cpp,
  // gemm_epilogue): a loop here indexes acc dynamically wherever the compiler does not unroll it, which moves the
  // whole accumulator to local memory.
  {{EPILOGUE}}
}
