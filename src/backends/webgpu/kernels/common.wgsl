// Shared by every kernel (prepended by the backend). Dispatches of flat kernels are 2D grids of 256-thread
// workgroups, because one dimension holds at most 65535 workgroups.
//
// Every storage binding is declared read_write, inputs included: activations are ranges of one arena buffer, and
// WebGPU forbids using a buffer both as read-only and as writable storage in one dispatch.

const kFlatWorkgroup = 256u;

fn flat_index(wid: vec3u, nwg: vec3u, lid: u32) -> u32 {
  return (wid.y * nwg.x + wid.x) * kFlatWorkgroup + lid;
}

fn sigmoid(x: f32) -> f32 { return 1.0 / (1.0 + exp(-x)); }

// erf with at most 1.5e-7 absolute error (Abramowitz & Stegun 7.1.26); WGSL has no erf.
fn erf_approx(x: f32) -> f32 {
  let a = abs(x);
  let t = 1.0 / (1.0 + 0.3275911 * a);
  let poly = ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t;
  let y = 1.0 - poly * exp(-a * a);
  return select(-y, y, x >= 0.0);
}

fn gelu_erf(x: f32) -> f32 { return 0.5 * x * (1.0 + erf_approx(x * 0.70710678118654752)); }
