// conv2d as an implicit GEMM: y[B·HO·WO, O] = im2col(x)[B·HO·WO, C·KH·KW] · w[O, C·KH·KW]ᵀ + bias[O], where the
// im2col matrix is never stored: each tile load gathers from x (zero outside the padded image) and the result is
// written in NCHW order. Tiling as in matmul.wgsl.

struct Params {
  batch: u32,
  channels: u32,
  height: u32,
  width: u32,
  out_channels: u32,
  kernel_h: u32,
  kernel_w: u32,
  stride: u32,
  pad: u32,      // top and left padding (bottom/right follow from the output size)
  out_h: u32,
  out_w: u32,
  m: u32,        // batch · out_h · out_w
  k: u32,        // channels · kernel_h · kernel_w
  has_bias: u32,
  _pad0: u32,
  _pad1: u32,
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

// im2col(x)[m, k], or 0 in the padding.
fn load_patch(m: u32, k: u32) -> f32 {
  let ox = m % p.out_w;
  let oy = (m / p.out_w) % p.out_h;
  let b = m / (p.out_w * p.out_h);
  let kx = k % p.kernel_w;
  let ky = (k / p.kernel_w) % p.kernel_h;
  let c = k / (p.kernel_w * p.kernel_h);
  let iy = i32(oy * p.stride + ky) - i32(p.pad);
  let ix = i32(ox * p.stride + kx) - i32(p.pad);
  if (iy < 0 || ix < 0 || iy >= i32(p.height) || ix >= i32(p.width)) { return 0.0; }
  return x[((b * p.channels + c) * p.height + u32(iy)) * p.width + u32(ix)];
}

@compute @workgroup_size(16, 16)
fn conv2d(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u,
          @builtin(local_invocation_index) li: u32) {
  let m0 = wid.y * kTileM;
  let n0 = wid.x * kTileN;
  var acc: array<f32, 16>;
  for (var k0 = 0u; k0 < p.k; k0 += kTileK) {
    for (var r = 0u; r < 4u; r++) {
      let e = li + r * 256u;
      // Patches: consecutive threads take consecutive output pixels (neighbouring reads of x).
      let row_x = e % kTileM;
      let kk_x = e / kTileM;
      var xv = 0.0;
      if (m0 + row_x < p.m && k0 + kk_x < p.k) { xv = load_patch(m0 + row_x, k0 + kk_x); }
      tile_x[kk_x * kTileM + row_x] = xv;
      // Weights: consecutive threads take consecutive k (rows of w are K-contiguous).
      let kk_w = e % kTileK;
      let row_w = e / kTileK;
      var wv = 0.0;
      if (n0 + row_w < p.out_channels && k0 + kk_w < p.k) { wv = load_w((n0 + row_w) * p.k + k0 + kk_w); }
      tile_w[kk_w * kTileN + row_w] = wv;
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
  let spatial = p.out_h * p.out_w;
  for (var i = 0u; i < 4u; i++) {
    let m = m0 + lid.y * 4u + i;
    let b = m / spatial;
    let s = m % spatial;
    for (var j = 0u; j < 4u; j++) {
      let n = n0 + lid.x * 4u + j;
      if (m < p.m && n < p.out_channels) {
        var v = acc[i * 4u + j];
        if (p.has_bias != 0u) { v += load_bias(n); }
        y[(b * p.out_channels + n) * spatial + s] = v;
      }
    }
  }
}
