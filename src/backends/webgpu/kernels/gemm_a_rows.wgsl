// A into the GEMM core's tile (gemm_core.wgsl) as the includer's load_a4 gives it: vectors of four rows (m) at one k.

// Which (k, m4) element of the A tile load `i` of thread `t` fetches.
fn a_slot(t: u32, i: u32) -> vec2u {
  let e = t + i * 256u;
  if (kAKFast) { return vec2u(e % kTileK, e / kTileK); }
  return vec2u(e / (kTileM / 4u), e % (kTileM / 4u));
}

fn a_row(t: u32, i: u32) -> u32 { return a_slot(t, i).y * 4u; }

fn fetch_a(m0: u32, k0: u32, t: u32, i: u32) -> vec4f {
  let s = a_slot(t, i);
  return load_a4(m0 + s.y * 4u, k0 + s.x, i);
}

fn stage_a(t: u32, i: u32, v: vec4f) {
  let s = a_slot(t, i);
  tile_a[s.x * kStrideA + s.y] = v;
}
