// linear on the GEMM core (gemm_core.wgsl): y[M, N] = x[M, K] · w[N, K]ᵀ + bias[N]. The weight was laid out at
// upload as wᵀ [K, N4] (K-major, N padded to a multiple of 4: webgpu_backend.cpp), so B loads are one vector per
// four outputs; x rows are K-contiguous (kAKFast).

struct Params {
  m: u32,
  n: u32,
  k: u32,
  has_bias: u32,  // 0: the bias binding is a placeholder
  k_slice: u32,   // K per workgroup slice (all of K unless split)
  has_residual: u32,  // 1: y += r (binding 6, res) after the bias
  _pad1: u32,
  _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
// x (binding 1): scalars, or vectors where every row is a whole number of them (X_LOADS).
{{include X_LOADS}}
{{weight_kn w 2}}
{{weight bias 3}}
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
// SPLIT: each K slice writes its scaled partial sums here ([slices, M, N]); gemm_reduce.wgsl adds them and the bias.
@group(0) @binding(5) var<storage, read_write> partial: array<f32>;
@group(0) @binding(6) var<storage, read_write> res: array<f32>;

const kAKFast = true;
const kSplit = {{SPLIT}};
var<private> slice_index: u32;

fn prepare_a(m: u32, i: u32) {}
fn prepare_b(n: u32, i: u32) {}

fn load_a4(m: u32, k: u32, i: u32) -> vec4f {
  var v = vec4f(0.0);
  if (k < p.k) {
    for (var r = 0u; r < 4u; r++) {
      if (m + r < p.m) { v[r] = x_at((m + r) * p.k + k); }
    }
  }
  return v;
}

fn load_a_k4(m: u32, k: u32) -> vec4f {
  if (m >= p.m || k >= p.k) { return vec4f(0.0); }
  return x_row4(m * p.k + k);
}

fn load_b4(k: u32, n: u32, i: u32) -> vec4f {
  if (k >= p.k || n >= p.n) { return vec4f(0.0); }
  return load_w4(k, n, (p.n + 3u) & ~3u);
}

fn store4(m: u32, n: u32, v: vec4f) {
  if (m >= p.m) { return; }
  for (var c = 0u; c < 4u; c++) {
    if (kSplit && n + c < p.n) {
      partial[(slice_index * p.m + m) * p.n + n + c] = v[c] * scale_w(n + c);
    } else if (n + c < p.n) {
      var o = v[c] * scale_w(n + c);
      if (p.has_bias != 0u) { o += load_bias(n + c); }
      if (p.has_residual != 0u) { o += res[m * p.n + n + c]; }
      y[m * p.n + n + c] = o;
    }
  }
}

// M, for the direct core (gemm_direct.wgsl: threads past it skip their loads).
fn gemm_rows() -> u32 { return p.m; }

{{include GEMM_CORE}}

@compute @workgroup_size(256)
fn linear(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) t: u32) {
  slice_index = wid.z;
  let k_begin = wid.z * p.k_slice;
  gemm_tile(wid.y * kTileM, wid.x * kTileN, k_begin, min(p.k, k_begin + p.k_slice), t);
}
