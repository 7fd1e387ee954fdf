// linear: y[M, N] = x[M, K] · w[N, K]ᵀ + bias[N]. A plain shared-memory tiled GEMM: each 16×16 workgroup computes
// a 64×64 tile of y, each thread a 4×4 block, stepping through K 16 at a time. The reference variant (kernel_choice
// v0) that the fast GEMM core (gemm_core.wgsl) is checked and timed against.

struct Params {
  m: u32,
  n: u32,
  k: u32,
  has_bias: u32,  // 0: the bias binding is a placeholder
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;
{{weight w 2}}
{{weight bias 3}}
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

const kTileM = 64u;
const kTileN = 64u;
const kTileK = 16u;

var<workgroup> tile_x: array<f32, 1024>;  // [kTileK][kTileM]
var<workgroup> tile_w: array<f32, 1024>;  // [kTileK][kTileN]

@compute @workgroup_size(16, 16)
fn linear(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u,
          @builtin(local_invocation_index) li: u32) {
  let m0 = wid.y * kTileM;
  let n0 = wid.x * kTileN;
  var acc: array<f32, 16>;
  for (var k0 = 0u; k0 < p.k; k0 += kTileK) {
    // 1024 values of each tile, 4 per thread; consecutive threads read consecutive k (rows are K-contiguous).
    for (var r = 0u; r < 4u; r++) {
      let e = li + r * 256u;
      let kk = e % kTileK;
      let row = e / kTileK;
      let gk = k0 + kk;
      var xv = 0.0;
      if (m0 + row < p.m && gk < p.k) { xv = x[(m0 + row) * p.k + gk]; }
      tile_x[kk * kTileM + row] = xv;
      var wv = 0.0;
      if (n0 + row < p.n && gk < p.k) { wv = load_w((n0 + row) * p.k + gk); }
      tile_w[kk * kTileN + row] = wv;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < kTileK; kk++) {
      var a: array<f32, 4>;
      var b: array<f32, 4>;
      for (var i = 0u; i < 4u; i++) {
        a[i] = tile_x[kk * kTileM + lid.y * 4u + i];
        b[i] = tile_w[kk * kTileN + lid.x * 4u + i];
      }
      for (var i = 0u; i < 4u; i++) {
        for (var j = 0u; j < 4u; j++) { acc[i * 4u + j] += a[i] * b[j]; }
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < 4u; i++) {
    let m = m0 + lid.y * 4u + i;
    for (var j = 0u; j < 4u; j++) {
      let n = n0 + lid.x * 4u + j;
      if (m < p.m && n < p.n) {
        var v = acc[i * 4u + j];
        if (p.has_bias != 0u) { v += load_bias(n); }
        y[m * p.n + n] = v;
      }
    }
  }
}
