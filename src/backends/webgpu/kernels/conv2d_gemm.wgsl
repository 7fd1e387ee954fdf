// conv2d on the GEMM core (gemm_core.wgsl) as an implicit GEMM in NCHW:
//   y[b, o, s] = Σ_k w[o, k] · im2col(x)[k, (b, s)] + bias[o],  k = (c, ky, kx), s = (oy, ox),
// so M = output channels, N = batch · output pixels (neighbouring n are neighbouring pixels of one image: B loads
// and the stores are coalesced), K = C · KH · KW. The weight was laid out at upload as wᵀ [K, O4] (K-major, O
// padded to a multiple of 4), so A loads are one vector per four output channels. KH, KW and the stride are
// constants of the variant: the index arithmetic divides by constants only.

struct Params {
  has_residual: u32,  // 1: y += r (binding 6, res) after the bias
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
{{weight_kn w 2}}
{{weight bias 3}}
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
// SPLIT: each K slice writes its scaled partial sums here ([slices, M, N]); gemm_reduce.wgsl adds them and the bias.
@group(0) @binding(5) var<storage, read_write> partial: array<f32>;
@group(0) @binding(6) var<storage, read_write> res: array<f32>;

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

// x (binding 1) and the B loads: im2col gathers in general, vector loads for pointwise convolutions.
{{include B_LOADS}}

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
      let at = ((nj / spatial) * p.out_channels + m) * spatial + nj % spatial;
      var o = v[j] * scale + bias;
      if (p.has_residual != 0u) { o += res[at]; }
      y[at] = o;
    }
  }
}

// M, for the direct core (gemm_direct.wgsl: threads past it skip their loads).
fn gemm_rows() -> u32 { return p.out_channels; }

{{include GEMM_CORE}}

@compute @workgroup_size(256)
fn conv2d(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) t: u32) {
  slice_index = wid.z;
  let k_begin = wid.z * p.k_slice;
  gemm_tile(wid.y * kTileM, wid.x * kTileN, k_begin, min(p.k, k_begin + p.k_slice), t);
}
