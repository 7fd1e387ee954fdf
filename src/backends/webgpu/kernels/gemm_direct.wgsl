// A GEMM core without workgroup memory or barriers, with gemm_core.wgsl's interface (the includer's load_a4,
// load_b4, prepare_a/prepare_b and store4; one load slot, i = 0) and its 64×64 tile of 256 threads as 16 × 16,
// each thread a 4 × 4 block of outputs read straight from storage. For adapters that run compute on the CPU
// (SwiftShader): there every barrier switches each invocation of the workgroup in turn, which costs more than
// all of a small GEMM's arithmetic, and CPU caches do what workgroup memory does on a GPU.

const kTileM = 64u;
const kTileN = 64u;
const kTileK = {{TILE_K}}u;
const kLoadsA = 1u;
const kLoadsB = 1u;

fn gemm_tile(m0: u32, n0: u32, k_begin: u32, k_end: u32, t: u32) {
  let tx = t % 16u;
  let ty = t / 16u;
  let m = m0 + ty * 4u;
  let n = n0 + tx * 4u;
  var acc: array<vec4f, 4>;
  if (m < gemm_rows()) {
    prepare_a(m, 0u);
    prepare_b(n, 0u);
    for (var k = k_begin; k < k_end; k++) {
      let a = load_a4(m, k, 0u);
      let b = load_b4(k, n, 0u);
      acc[0] = fma(vec4f(a.x), b, acc[0]);
      acc[1] = fma(vec4f(a.y), b, acc[1]);
      acc[2] = fma(vec4f(a.z), b, acc[2]);
      acc[3] = fma(vec4f(a.w), b, acc[3]);
    }
  }
  {{EPILOGUE}}
}
