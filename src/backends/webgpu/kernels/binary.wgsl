// Binary element-wise ops: y = a ∘ b. The second operand may be a stored weight (f32 or f16), so it is declared
// per variant: binding 2 with `fn load_b(i: u32) -> f32`.

struct Params {
  n: u32,       // elements of y (and a)
  nb: u32,      // add, mul: elements of b, repeated over a's leading dims (b's shape is a suffix of a's, or one)
  inner: u32,   // add_channel: H·W, the run of a that one value of b[B, C] covers
  _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> a: array<f32>;
{{weight b 2}}
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(256)
fn add(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
       @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wid, nwg, lid);
  if (i < p.n) { y[i] = a[i] + load_b(i % p.nb); }
}

@compute @workgroup_size(256)
fn add_channel(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
               @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wid, nwg, lid);
  if (i < p.n) { y[i] = a[i] + load_b(i / p.inner); }
}

@compute @workgroup_size(256)
fn mul(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
       @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wid, nwg, lid);
  if (i < p.n) { y[i] = a[i] * load_b(i % p.nb); }
}
