// The second half of a split-K product (linear.wgsl, conv2d_gemm.wgsl with SPLIT): y = Σ over slices of the
// partial sums [slices, M, N] + bias, written in the op's layout: linear y[m, n] (bias per n); conv2d in NCHW,
// m the output channel and n = b · spatial + s (bias per m). One thread per output.

struct Params {
  m: u32,
  n: u32,
  slices: u32,
  has_bias: u32,
  spatial: u32,  // conv2d: out_h · out_w; 0 for linear
  has_residual: u32,  // 1: y += r (binding 4, res) after the bias
  _pad1: u32,
  _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> partial: array<f32>;
{{weight bias 2}}
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<storage, read_write> res: array<f32>;

@compute @workgroup_size(256)
fn gemm_reduce(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
               @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wid, nwg, lid);  // m · N + n
  if (i >= p.m * p.n) { return; }
  var s = 0.0;
  for (var z = 0u; z < p.slices; z++) { s += partial[z * p.m * p.n + i]; }
  let m = i / p.n;
  let n = i % p.n;
  if (p.spatial == 0u) {
    if (p.has_bias != 0u) { s += load_bias(n); }
    if (p.has_residual != 0u) { s += res[i]; }
    y[i] = s;
  } else {
    if (p.has_bias != 0u) { s += load_bias(m); }
    let at = ((n / p.spatial) * p.m + m) * p.spatial + n % p.spatial;
    if (p.has_residual != 0u) { s += res[at]; }
    y[at] = s;
  }
}
