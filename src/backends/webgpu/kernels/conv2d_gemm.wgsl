// conv2d on the GEMM core (gemm_core.wgsl) as an implicit GEMM in NCHW:
//   y[b, o, s] = Σ_k w[o, k] · im2col(x)[k, (b, s)] + bias[o],  k = (c, ky, kx), s = (oy, ox),
// so M = output channels, N = batch · output pixels (neighbouring n are neighbouring pixels of one image: B loads
// and the stores are coalesced), K = C · KH · KW. The weight was laid out at upload as wᵀ [K, O4] (K-major, O
// padded to a multiple of 4), so A loads are one vector per four output channels. KH, KW and the stride are
// constants of the variant: the index arithmetic divides by constants only.

struct Params {
  batch: u32,
  channels: u32,
  height: u32,
  width: u32,
  out_channels: u32,
  out_h: u32,
  out_w: u32,
  pad: u32,      // top and left padding (bottom/right follow from the output size)
  n: u32,        // batch · out_h · out_w
  k: u32,        // channels · KH · KW
  has_bias: u32,
  k_slice: u32,  // K per workgroup slice (all of K unless split)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;
{{weight_kn w 2}}
{{weight bias 3}}
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
// SPLIT: each K slice writes its scaled partial sums here ([slices, M, N]); gemm_reduce.wgsl adds them and the bias.
@group(0) @binding(5) var<storage, read_write> partial: array<f32>;

const kKernelH = {{KH}}u;
const kKernelW = {{KW}}u;
const kStride = {{STRIDE}}u;
const kAKFast = false;
const kSplit = {{SPLIT}};
var<private> slice_index: u32;

fn prepare_a(m: u32, i: u32) {}

fn load_a4(m: u32, k: u32, i: u32) -> vec4f {
  if (k >= p.k || m >= p.out_channels) { return vec4f(0.0); }
  return load_w4(k, m, (p.out_channels + 3u) & ~3u);
}

// Per B load of this thread and each of its four pixels: the offset in x of (b, channel 0, iy0, ix0) and iy0,
// ix0, the input position of the kernel's top-left tap (a pixel beyond the output gets an iy0 that is never in
// the image).
var<private> pixel_base: array<vec4i, kLoadsB>;
var<private> pixel_iy: array<vec4i, kLoadsB>;
var<private> pixel_ix: array<vec4i, kLoadsB>;

fn prepare_b(n: u32, i: u32) {
  let spatial = p.out_h * p.out_w;
  for (var j = 0u; j < 4u; j++) {
    let nj = n + j;
    let s = nj % spatial;
    let iy0 = i32((s / p.out_w) * kStride) - i32(p.pad);
    let ix0 = i32((s % p.out_w) * kStride) - i32(p.pad);
    pixel_base[i][j] = i32((nj / spatial) * p.channels * p.height * p.width) + iy0 * i32(p.width) + ix0;
    pixel_iy[i][j] = select(-1000000, iy0, nj < p.n);
    pixel_ix[i][j] = ix0;
  }
}

// im2col(x)[k, n .. n+3], zero in the padding.
fn load_b4(k: u32, n: u32, i: u32) -> vec4f {
  var v = vec4f(0.0);
  if (k >= p.k) { return v; }
  let c = k / (kKernelH * kKernelW);
  let ky = (k / kKernelW) % kKernelH;
  let kx = k % kKernelW;
  let offset = i32((c * p.height + ky) * p.width + kx);
  for (var j = 0u; j < 4u; j++) {
    let iy = u32(pixel_iy[i][j] + i32(ky));
    let ix = u32(pixel_ix[i][j] + i32(kx));
    if (iy < p.height && ix < p.width) { v[j] = x[u32(pixel_base[i][j] + offset)]; }
  }
  return v;
}

fn store4(m: u32, n: u32, v: vec4f) {
  if (m >= p.out_channels) { return; }
  let scale = scale_w(m);
  var bias = 0.0;
  if (p.has_bias != 0u) { bias = load_bias(m); }
  let spatial = p.out_h * p.out_w;
  for (var j = 0u; j < 4u; j++) {
    let nj = n + j;
    if (kSplit && nj < p.n) {
      partial[(slice_index * p.out_channels + m) * p.n + nj] = v[j] * scale;
    } else if (nj < p.n) {
      y[((nj / spatial) * p.out_channels + m) * spatial + nj % spatial] = v[j] * scale + bias;
    }
  }
}

{{include gemm_core}}

@compute @workgroup_size(256)
fn conv2d(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) t: u32) {
  slice_index = wid.z;
  let k_begin = wid.z * p.k_slice;
  gemm_tile(wid.y * kTileM, wid.x * kTileN, k_begin, min(p.k, k_begin + p.k_slice), t);
}
