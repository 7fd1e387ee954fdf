// GroupNorm over x[B, C, H·W] in three dispatches, so that a large image keeps the whole GPU busy (one workgroup
// per group, norm.wgsl's way, gives SD's VAE 32 workgroups for a 134 MB tensor):
//   group_norm_partial  one workgroup per chunk of kChunk elements of a group: the chunk's mean and the sum of
//                       squared deviations from it (two passes over the chunk, as the reference computes them)
//   group_norm_finish   one thread per group: Chan's pairwise combination of its chunks -> mean, 1/sqrt(var + eps)
//   group_norm_apply    one thread per four elements: the affine transform and the optional SiLU
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
