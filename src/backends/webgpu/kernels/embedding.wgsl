// Embedding lookup: y[i, :] = table[ids[i], :]. The host checks every id against the vocabulary before it is
// written (Executable::set_input), so the kernel needs no bounds check of its own beyond robustness.

struct Params {
  n: u32,      // elements of y: tokens · d
  d: u32,      // embedding width
  _pad0: u32,
  _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
{{weight table 1}}
@group(0) @binding(2) var<storage, read_write> ids: array<i32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(256)
fn embedding(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
             @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wid, nwg, lid);
  if (i >= p.n) { return; }
  let token = u32(ids[i / p.d]);
  y[i] = load_table(token * p.d + i % p.d);
}
