// Winograd F(2×2, 3×3), middle step (winograd.wgsl): M[ξ] = U[ξ] · V[ξ] for the 16 transformed positions ξ
// (workgroups along z), each a GEMM on the GEMM core (gemm_core.wgsl) with M = output channels, N = the chunk's
// tiles and K = input channels. U was laid out at upload as [16 · C, O4] (K-major per ξ, O padded to a
// multiple of 4, like every GEMM core weight), so A loads are one vector per four output channels; V rows are
// whole vec4 (chunk4), so B loads and the stores of M are single vectors.

{{include winograd}}

{{weight_kn u 1}}
@group(0) @binding(2) var<storage, read_write> v: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> prod: array<vec4f>;

const kAKFast = false;
var<private> component: u32;

fn prepare_a(m: u32, i: u32) {}
fn prepare_b(n: u32, i: u32) {}

fn load_a4(row: u32, k: u32, i: u32) -> vec4f {
  if (k >= p.channels || row >= p.out_channels) { return vec4f(0.0); }
  return load_u4(component * p.channels + k, row, (p.out_channels + 3u) & ~3u);
}

fn load_b4(k: u32, n: u32, i: u32) -> vec4f {
  if (k >= p.channels || n >= p.chunk4) { return vec4f(0.0); }
  return v[((component * p.channels + k) * p.chunk4 + n) >> 2u];
}

fn store4(row: u32, n: u32, value: vec4f) {
  if (row >= p.out_channels || n >= p.chunk4) { return; }
  prod[((component * p.out_channels + row) * p.chunk4 + n) >> 2u] = value * scale_u(row);
}

// M, for the direct core (gemm_direct.wgsl: threads past it skip their loads).
fn gemm_rows() -> u32 { return p.out_channels; }

{{include GEMM_CORE}}

@compute @workgroup_size(256)
fn winograd_gemm(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) t: u32) {
  component = wid.z;
  gemm_tile(wid.y * kTileM, wid.x * kTileN, 0u, p.channels, t);
}
