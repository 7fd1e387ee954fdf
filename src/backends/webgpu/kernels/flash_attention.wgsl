// Fused attention with an online softmax, FlashAttention-2 style: the score matrix is never stored.
// q[B, Lq, H·D], k and v [B, Lk, H·D] -> y[B, Lq, H·D].
//
// A workgroup of 256 threads takes kRows query rows of one (batch, head); each row belongs to kLanes neighbouring
// threads, lane l holding the vec4 chunks l, l + kLanes, ... of its query and of its output accumulator, and each
// thread holds kRowsPerThread rows (every key chunk it reads from workgroup memory then feeds that many rows). Key/value
// tiles of kKeys rows are staged in workgroup memory as vec4 and shared by all rows (every thread of a warp reads
// the same chunk: one broadcast vec4 load feeds four FMAs, where scalar loads would bound the kernel at a quarter
// of the FMA rate). Per tile a row computes all its scores first (partial dot products summed across its lanes
// with subgroup shuffles), rescales its accumulator once by exp(old max − new max), then adds p · v per key.
// The head width must be a multiple of 4 · kLanes.
// {{HEAD_DIM}}, {{LANES}} (1, 2, 4, 8 or 16; lanes of a row must lie in one subgroup), {{KEYS}} and {{ROWS}} are constants
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
const kRowsPerThread = {{ROWS}}u;
const kThreadRows = 256u / kLanes;               // rows the workgroup's threads hold at a time
const kRows = kThreadRows * kRowsPerThread;     // query rows per workgroup
const kChunks = kHeadDim / 4u;                  // vec4 per key
const kLaneChunks = kChunks / kLanes;           // vec4 per lane and row

var<workgroup> tile_k: array<vec4f, kKeys * kChunks>;
var<workgroup> tile_v: array<vec4f, kKeys * kChunks>;

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
  let head_offset = h * kHeadDim;
  // This thread's query rows: r-th at first_row + r · kThreadRows.
  let first_row = wid.x * kRows + t / kLanes;

  var qv: array<vec4f, kLaneChunks * kRowsPerThread>;
  var acc: array<vec4f, kLaneChunks * kRowsPerThread>;
  var running_max: array<f32, kRowsPerThread>;
  var total: array<f32, kRowsPerThread>;
  for (var r = 0u; r < kRowsPerThread; r++) {
    running_max[r] = -3.0e38;
    total[r] = 0.0;
    let i = first_row + r * kThreadRows;
    if (i < p.lq) {
      let base = (b * p.lq + i) * p.channels + head_offset + lane * 4u;
      for (var d = 0u; d < kLaneChunks; d++) {
        let at = base + d * kLanes * 4u;
        qv[r * kLaneChunks + d] = vec4f(q[at], q[at + 1u], q[at + 2u], q[at + 3u]) * p.scale;
      }
    }
  }
  // Causal rows see keys 0..i; the workgroup needs keys up to its last row's.
  var keys = p.lk;
  if (p.causal != 0u) { keys = min(p.lk, wid.x * kRows + kRows); }
  let kv_base = b * p.lk * p.channels + head_offset;
  for (var j0 = 0u; j0 < keys; j0 += kKeys) {
    workgroupBarrier();
    for (var e = t; e < kKeys * kChunks; e += 256u) {
      let j = j0 + e / kChunks;
      var kc = vec4f(0.0);
      var vc = vec4f(0.0);
      if (j < p.lk) {
        let at = kv_base + j * p.channels + (e % kChunks) * 4u;
        kc = vec4f(k[at], k[at + 1u], k[at + 2u], k[at + 3u]);
        vc = vec4f(v[at], v[at + 1u], v[at + 2u], v[at + 3u]);
      }
      tile_k[e] = kc;
      tile_v[e] = vc;
    }
    workgroupBarrier();
    // Scores: each key chunk read from workgroup memory once for all of the thread's rows.
    var s: array<f32, kKeys * kRowsPerThread>;
    var tile_max: array<f32, kRowsPerThread>;
    for (var r = 0u; r < kRowsPerThread; r++) { tile_max[r] = -3.0e38; }
    for (var j = 0u; j < kKeys; j++) {
      // Zeroed explicitly: a declaration inside a loop is not re-initialised on every platform (SwiftShader).
      var dot4: array<vec4f, kRowsPerThread>;
      for (var r = 0u; r < kRowsPerThread; r++) { dot4[r] = vec4f(0.0); }
      for (var d = 0u; d < kLaneChunks; d++) {
        let kc = tile_k[j * kChunks + d * kLanes + lane];
        for (var r = 0u; r < kRowsPerThread; r++) { dot4[r] = fma(qv[r * kLaneChunks + d], kc, dot4[r]); }
      }
      let key = j0 + j;
      for (var r = 0u; r < kRowsPerThread; r++) {
        let dot = row_sum(dot4[r].x + dot4[r].y + dot4[r].z + dot4[r].w);
        let masked = key >= p.lk || (p.causal != 0u && key > first_row + r * kThreadRows);
        s[r * kKeys + j] = select(dot, -3.0e38, masked);
        tile_max[r] = max(tile_max[r], s[r * kKeys + j]);
      }
    }
    var w: array<f32, kRowsPerThread>;
    for (var r = 0u; r < kRowsPerThread; r++) {
      let new_max = max(running_max[r], tile_max[r]);
      let correction = exp(running_max[r] - new_max);
      total[r] *= correction;
      for (var d = 0u; d < kLaneChunks; d++) { acc[r * kLaneChunks + d] *= correction; }
      running_max[r] = new_max;
    }
    for (var j = 0u; j < kKeys; j++) {
      for (var r = 0u; r < kRowsPerThread; r++) {
        let sj = s[r * kKeys + j];
        w[r] = select(exp(sj - running_max[r]), 0.0, sj <= -3.0e38);
        total[r] += w[r];
      }
      for (var d = 0u; d < kLaneChunks; d++) {
        let vc = tile_v[j * kChunks + d * kLanes + lane];
        for (var r = 0u; r < kRowsPerThread; r++) {
          acc[r * kLaneChunks + d] = fma(vec4f(w[r]), vc, acc[r * kLaneChunks + d]);
        }
      }
    }
  }
  for (var r = 0u; r < kRowsPerThread; r++) {
    let i = first_row + r * kThreadRows;
    if (i < p.lq) {
      let base = (b * p.lq + i) * p.channels + head_offset + lane * 4u;
      for (var d = 0u; d < kLaneChunks; d++) {
        let at = base + d * kLanes * 4u;
        let o = acc[r * kLaneChunks + d] / total[r];
        y[at] = o.x;
        y[at + 1u] = o.y;
        y[at + 2u] = o.z;
        y[at + 3u] = o.w;
      }
    }
  }
}
