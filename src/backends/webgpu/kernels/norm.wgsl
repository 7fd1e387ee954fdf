// Normalisations: one workgroup per normalised set (a group of channels of one image, or one row), two passes
// (mean, then the variance around it, as the reference does), then the affine transform.

struct Params {
  sets: u32,          // workgroups: batch · groups, or rows
  set_size: u32,      // elements in one set
  channels: u32,      // group_norm: C; layer_norm: the row length
  inner: u32,         // group_norm: H·W (elements per channel)
  group_channels: u32,  // group_norm: C / groups
  silu: u32,          // group_norm: apply SiLU after the affine transform
  eps: f32,
  _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;
{{weight gamma 2}}
{{weight beta 3}}
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

const kThreads = 256u;

{{include workgroup_sum}}

// Sum of f(v) over the set starting at `base`, by all threads of the workgroup; every thread gets the total.
fn set_sum(base: u32, lid: u32, mean: f32, squares: bool) -> f32 {
  var s = 0.0;
  for (var i = lid; i < p.set_size; i += kThreads) {
    let v = x[base + i] - mean;
    s += select(v, v * v, squares);
  }
  return workgroup_sum(s, lid);
}

@compute @workgroup_size(256)
fn group_norm(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let set_index = wid.x;  // b · groups + g; the set is contiguous in NCHW
  let base = set_index * p.set_size;
  let mean = set_sum(base, lid, 0.0, false) / f32(p.set_size);
  let inv = inverseSqrt(set_sum(base, lid, mean, true) / f32(p.set_size) + p.eps);
  let groups = p.channels / p.group_channels;
  let first_channel = (set_index % groups) * p.group_channels;
  for (var i = lid; i < p.set_size; i += kThreads) {
    let c = first_channel + i / p.inner;
    var v = (x[base + i] - mean) * inv * load_gamma(c) + load_beta(c);
    if (p.silu != 0u) { v = v * sigmoid(v); }
    y[base + i] = v;
  }
}

@compute @workgroup_size(256)
fn layer_norm(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let base = wid.x * p.set_size;
  let mean = set_sum(base, lid, 0.0, false) / f32(p.set_size);
  let inv = inverseSqrt(set_sum(base, lid, mean, true) / f32(p.set_size) + p.eps);
  for (var i = lid; i < p.set_size; i += kThreads) {
    y[base + i] = (x[base + i] - mean) * inv * load_gamma(i) + load_beta(i);
  }
}

// One thread per set, no barriers (group_norm variant 2, layer_norm variant 1): for adapters that run compute on
// the CPU, where every barrier of the workgroup kernels above switches each invocation in turn. The same two
// passes as there, in the same order within a thread.
fn serial_sum(base: u32, mean: f32, squares: bool) -> f32 {
  var s = 0.0;
  for (var i = 0u; i < p.set_size; i++) {
    let v = x[base + i] - mean;
    s += select(v, v * v, squares);
  }
  return s;
}

@compute @workgroup_size(256)
fn group_norm_serial(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                     @builtin(local_invocation_index) lid: u32) {
  let set_index = flat_index(wid, nwg, lid);
  if (set_index >= p.sets) { return; }
  let base = set_index * p.set_size;
  let mean = serial_sum(base, 0.0, false) / f32(p.set_size);
  let inv = inverseSqrt(serial_sum(base, mean, true) / f32(p.set_size) + p.eps);
  let first_channel = (set_index % (p.channels / p.group_channels)) * p.group_channels;
  for (var i = 0u; i < p.set_size; i++) {
    let c = first_channel + i / p.inner;
    var v = (x[base + i] - mean) * inv * load_gamma(c) + load_beta(c);
    if (p.silu != 0u) { v = v * sigmoid(v); }
    y[base + i] = v;
  }
}

@compute @workgroup_size(256)
fn layer_norm_serial(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                     @builtin(local_invocation_index) lid: u32) {
  let row = flat_index(wid, nwg, lid);
  if (row >= p.sets) { return; }
  let base = row * p.set_size;
  let mean = serial_sum(base, 0.0, false) / f32(p.set_size);
  let inv = inverseSqrt(serial_sum(base, mean, true) / f32(p.set_size) + p.eps);
  for (var i = 0u; i < p.set_size; i++) {
    y[base + i] = (x[base + i] - mean) * inv * load_gamma(i) + load_beta(i);
  }
}
