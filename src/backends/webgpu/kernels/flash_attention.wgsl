// Fused attention with an online softmax, FlashAttention-2 style: the score matrix is never stored.
// q[B, Lq, H·D], k and v [B, Lk, H·D] -> y[B, Lq, H·D].
//
// A workgroup of 256 threads takes kRows query rows of one (batch, head); each row belongs to kLanes neighbouring
// threads, lane l holding dimensions l, l + kLanes, ... of its query and of its output accumulator. Key/value
// tiles of kKeys rows are staged in workgroup memory and shared by all rows. Per tile a row computes all its
// scores first (partial dot products summed across its lanes with subgroup shuffles), rescales its accumulator
// once by exp(old max − new max), then adds p · v for each key.
// {{HEAD_DIM}}, {{LANES}} (1, 2, 4, 8 or 16; lanes of a row must lie in one subgroup) and {{KEYS}} are constants
// of the variant (lowering.cpp picks them from the head width and the workgroup-memory limit).
{{ENABLE}}

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
const kLanes = {{LANES}}u;
const kKeys = {{KEYS}}u;
const kRows = 256u / kLanes;
const kDims = kHeadDim / kLanes;  // per lane

var<workgroup> tile_k: array<f32, kKeys * kHeadDim>;
var<workgroup> tile_v: array<f32, kKeys * kHeadDim>;

// The sum of x over the kLanes lanes of a row.
fn row_sum(x: f32) -> f32 {
  var s = x;
  {{ROW_SUM}}
  return s;
}

@compute @workgroup_size(256)
fn flash_attention(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) t: u32) {
  let bh = wid.y;  // b · heads + h
  let h = bh % p.heads;
  let b = bh / p.heads;
  let lane = t % kLanes;
  let i = wid.x * kRows + t / kLanes;  // this thread's query row
  let row_ok = i < p.lq;
  let head_offset = h * kHeadDim;

  var qv: array<f32, kDims>;
  var acc: array<f32, kDims>;
  if (row_ok) {
    let base = (b * p.lq + i) * p.channels + head_offset + lane;
    for (var d = 0u; d < kDims; d++) { qv[d] = q[base + d * kLanes] * p.scale; }
  }
  var running_max = -3.0e38;
  var total = 0.0;
  // Causal rows see keys 0..i; the workgroup needs keys up to its last row's.
  var keys = p.lk;
  if (p.causal != 0u) { keys = min(p.lk, wid.x * kRows + kRows); }
  let kv_base = b * p.lk * p.channels + head_offset;
  for (var j0 = 0u; j0 < keys; j0 += kKeys) {
    workgroupBarrier();
    for (var e = t; e < kKeys * kHeadDim; e += 256u) {
      let j = j0 + e / kHeadDim;
      var kv = vec2f(0.0);
      if (j < p.lk) {
        let at = kv_base + j * p.channels + e % kHeadDim;
        kv = vec2f(k[at], v[at]);
      }
      tile_k[e] = kv.x;
      tile_v[e] = kv.y;
    }
    workgroupBarrier();
    var s: array<f32, kKeys>;
    var tile_max = -3.0e38;
    for (var j = 0u; j < kKeys; j++) {
      var dot = 0.0;
      for (var d = 0u; d < kDims; d++) { dot = fma(qv[d], tile_k[j * kHeadDim + d * kLanes + lane], dot); }
      dot = row_sum(dot);
      let key = j0 + j;
      let masked = key >= p.lk || (p.causal != 0u && key > i);
      s[j] = select(dot, -3.0e38, masked);
      tile_max = max(tile_max, s[j]);
    }
    let new_max = max(running_max, tile_max);
    let correction = exp(running_max - new_max);
    total *= correction;
    for (var d = 0u; d < kDims; d++) { acc[d] *= correction; }
    for (var j = 0u; j < kKeys; j++) {
      let w = select(exp(s[j] - new_max), 0.0, s[j] <= -3.0e38);
      total += w;
      for (var d = 0u; d < kDims; d++) { acc[d] = fma(w, tile_v[j * kHeadDim + d * kLanes + lane], acc[d]); }
    }
    running_max = new_max;
  }
  if (row_ok) {
    let base = (b * p.lq + i) * p.channels + head_offset + lane;
    for (var d = 0u; d < kDims; d++) { y[base + d * kLanes] = acc[d] / total; }
  }
}
