// Scaled dot-product attention, one thread per query row of one head, keys visited once with an online softmax
// (running maximum and sum), so no score matrix is stored. {{HEAD_DIM}} is the per-head width, fixed per variant.
// q[B, Lq, H·D], k and v [B, Lk, H·D] -> y[B, Lq, H·D].

struct Params {
  batch: u32,
  lq: u32,
  lk: u32,
  channels: u32,  // H · D
  heads: u32,
  causal: u32,    // 1: key j > query i is masked
  scale: f32,
  _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> q: array<f32>;
@group(0) @binding(2) var<storage, read_write> k: array<f32>;
@group(0) @binding(3) var<storage, read_write> v: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

const kHeadDim = {{HEAD_DIM}}u;

@compute @workgroup_size(64)
fn attention(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
             @builtin(local_invocation_index) lid: u32) {
  let row = (wid.y * nwg.x + wid.x) * 64u + lid;  // (b · heads + h) · lq + i
  if (row >= p.batch * p.heads * p.lq) { return; }
  let i = row % p.lq;
  let h = (row / p.lq) % p.heads;
  let b = row / (p.lq * p.heads);
  let q_base = (b * p.lq + i) * p.channels + h * kHeadDim;
  var qv: array<f32, kHeadDim>;
  var acc: array<f32, kHeadDim>;
  for (var d = 0u; d < kHeadDim; d++) { qv[d] = q[q_base + d] * p.scale; }
  var running_max = -3.0e38;
  var total = 0.0;
  let keys = select(p.lk, min(p.lk, i + 1u), p.causal != 0u);
  for (var j = 0u; j < keys; j++) {
    let kv_base = (b * p.lk + j) * p.channels + h * kHeadDim;
    var s = 0.0;
    for (var d = 0u; d < kHeadDim; d++) { s += qv[d] * k[kv_base + d]; }
    let new_max = max(running_max, s);
    let correction = exp(running_max - new_max);
    let weight = exp(s - new_max);
    total = total * correction + weight;
    for (var d = 0u; d < kHeadDim; d++) { acc[d] = acc[d] * correction + weight * v[kv_base + d]; }
    running_max = new_max;
  }
  for (var d = 0u; d < kHeadDim; d++) { y[q_base + d] = acc[d] / total; }
}
