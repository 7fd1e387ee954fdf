// GroupNorm over x[B, C, H·W] in three dispatches, so that a large image keeps the whole GPU busy (one workgroup
// per group, norm.wgsl's way, gives SD's VAE 32 workgroups for a 134 MB tensor):
//   group_norm_partial  one workgroup per chunk of kChunk elements of a group: the chunk's mean and the sum of
//                       squared deviations from it (two passes over the chunk, as the reference computes them)
//   group_norm_finish   one thread per group: Chan's pairwise combination of its chunks -> mean, 1/sqrt(var + eps)
//   group_norm_apply    one thread per four elements: the affine transform and the optional SiLU
// or, where a set has at most kMaxFoldChunks chunks and at least 1024 elements, in two: group_norm_partial, then
// group_norm_apply_folded, whose workgroups combine the chunks of the (at most two) sets they cover themselves.
// The partial and final statistics live in the node's scratch: [sets · chunks] (mean, M2) pairs, then [sets]
// (mean, inv_std) pairs.

struct Params {
  sets: u32,            // batch · groups
  set_size: u32,        // elements in one group: C / groups · H·W
  channels: u32,
  inner: u32,           // H·W, a multiple of 4
  group_channels: u32,  // C / groups
  silu: u32,
  eps: f32,
  chunks: u32,          // chunks per set
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;
{{weight gamma 2}}
{{weight beta 3}}
@group(0) @binding(4) var<storage, read_write> y: array<vec4f>;
@group(0) @binding(5) var<storage, read_write> stats: array<vec2f>;

const kChunk = 4096u;

{{include workgroup_sum}}

@compute @workgroup_size(256)
fn group_norm_partial(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let chunk = wid.x;
  let set_index = wid.y;
  let begin = chunk * kChunk;
  let count = min(kChunk, p.set_size - begin);
  let base = set_index * p.set_size + begin;
  var s = 0.0;
  for (var i = lid; i < count; i += 256u) { s += x[base + i]; }
  let mean = workgroup_sum(s, lid) / f32(count);
  var m2 = 0.0;
  for (var i = lid; i < count; i += 256u) {
    let d = x[base + i] - mean;
    m2 += d * d;
  }
  m2 = workgroup_sum(m2, lid);
  if (lid == 0u) { stats[set_index * p.chunks + chunk] = vec2f(mean, m2); }
}

@compute @workgroup_size(256)
fn group_norm_finish(@builtin(global_invocation_id) gid: vec3u) {
  let set_index = gid.x;
  if (set_index >= p.sets) { return; }
  var n = 0.0;
  var mean = 0.0;
  var m2 = 0.0;
  for (var c = 0u; c < p.chunks; c++) {
    let part = stats[set_index * p.chunks + c];
    let nb = f32(min(kChunk, p.set_size - c * kChunk));
    let total = n + nb;
    let delta = part.x - mean;
    mean += delta * nb / total;
    m2 += part.y + delta * delta * n * nb / total;
    n = total;
  }
  stats[p.sets * p.chunks + set_index] = vec2f(mean, inverseSqrt(m2 / n + p.eps));
}

@compute @workgroup_size(256)
fn group_norm_apply(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                    @builtin(local_invocation_index) lid: u32) {
  let i4 = flat_index(wid, nwg, lid);  // four elements, one channel (inner is a multiple of 4)
  if (i4 * 4u >= p.sets * p.set_size) { return; }
  let i = i4 * 4u;
  let set_index = i / p.set_size;
  let c = (i / p.inner) % p.channels;
  let st = stats[p.sets * p.chunks + set_index];
  let xv = vec4f(x[i], x[i + 1u], x[i + 2u], x[i + 3u]);
  var v = (xv - st.x) * (st.y * load_gamma(c)) + load_beta(c);
  if (p.silu != 0u) { v = v / (1.0 + exp(-v)); }
  y[i4] = v;
}

// ---- group_norm_apply_folded: group_norm_finish inside each workgroup of the apply pass

const kMaxFoldChunks = 64u;
var<workgroup> fold: array<vec4f, kMaxFoldChunks>;  // (count, mean, M2, -) per chunk, combined pairwise

// Chan's combination of two (count, mean, M2) summaries.
fn combine(a: vec4f, b: vec4f) -> vec4f {
  let n = a.x + b.x;
  if (n == 0.0) { return a; }
  let delta = b.y - a.y;
  return vec4f(n, a.y + delta * b.x / n, a.z + b.z + delta * delta * a.x * b.x / n, 0.0);
}

// (mean, 1/sqrt(var + eps)) of set `set_index` from its chunks' partial statistics; every thread calls it.
fn set_stats(set_index: u32, lid: u32) -> vec2f {
  if (lid < kMaxFoldChunks) {
    var part = vec4f(0.0);
    if (lid < p.chunks) {
      let s = stats[set_index * p.chunks + lid];
      part = vec4f(f32(min(kChunk, p.set_size - lid * kChunk)), s.x, s.y, 0.0);
    }
    fold[lid] = part;
  }
  workgroupBarrier();
  var stride = 1u;
  while (stride * 2u < p.chunks) { stride *= 2u; }
  for (; stride > 0u; stride /= 2u) {
    if (lid < stride) { fold[lid] = combine(fold[lid], fold[lid + stride]); }
    workgroupBarrier();
  }
  let r = fold[0];
  workgroupBarrier();  // fold is reused by the next call
  return vec2f(r.y, inverseSqrt(r.z / r.x + p.eps));
}

@compute @workgroup_size(256)
fn group_norm_apply_folded(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                           @builtin(local_invocation_index) lid: u32) {
  // The workgroup's 1024 elements lie in at most two sets (set_size >= 1024).
  let first = flat_index(wid, nwg, 0u) * 4u;
  let set0 = min(first / p.set_size, p.sets - 1u);
  let set1 = min((first + 1023u) / p.set_size, p.sets - 1u);
  let st0 = set_stats(set0, lid);
  var st1 = st0;
  if (set1 != set0) { st1 = set_stats(set1, lid); }
  let i4 = flat_index(wid, nwg, lid);
  if (i4 * 4u >= p.sets * p.set_size) { return; }
  let i = i4 * 4u;
  let c = (i / p.inner) % p.channels;
  let st = select(st0, st1, i / p.set_size != set0);
  let xv = vec4f(x[i], x[i + 1u], x[i + 2u], x[i + 3u]);
  var v = (xv - st.x) * (st.y * load_gamma(c)) + load_beta(c);
  if (p.silu != 0u) { v = v / (1.0 + exp(-v)); }
  y[i4] = v;
}
