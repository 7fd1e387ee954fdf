// Unary element-wise ops: y = f(x). n is the element count of y.

struct Params {
  n: u32,
  d: u32,      // geglu: width of the output rows (the input rows are 2·d wide)
  scale: f32,  // scale: the factor
  _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(256)
fn scale(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
         @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wid, nwg, lid);
  if (i < p.n) { y[i] = x[i] * p.scale; }
}

@compute @workgroup_size(256)
fn silu(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wid, nwg, lid);
  if (i < p.n) { y[i] = x[i] * sigmoid(x[i]); }
}

@compute @workgroup_size(256)
fn gelu(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wid, nwg, lid);
  if (i < p.n) { y[i] = gelu_erf(x[i]); }
}

@compute @workgroup_size(256)
fn quick_gelu(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
              @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wid, nwg, lid);
  if (i < p.n) { y[i] = x[i] * sigmoid(1.702 * x[i]); }
}

@compute @workgroup_size(256)
fn relu(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wid, nwg, lid);
  if (i < p.n) { y[i] = max(x[i], 0.0); }
}

// x[..., 2d] -> x[..., :d] * gelu(x[..., d:])
@compute @workgroup_size(256)
fn geglu(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
         @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wid, nwg, lid);
  if (i < p.n) {
    let row = i / p.d;
    let col = i % p.d;
    let base = row * 2u * p.d;
    y[i] = x[base + col] * gelu_erf(x[base + p.d + col]);
  }
}

// y += x: the residual of a linear or conv2d whose kernel has no epilogue for it (the plain variant 0).
@compute @workgroup_size(256)
fn accumulate(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
              @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wid, nwg, lid);
  if (i < p.n) { y[i] += x[i]; }
}
