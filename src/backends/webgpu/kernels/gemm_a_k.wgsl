// A into the GEMM core's tile (gemm_core.wgsl) for a K-contiguous A whose K is a multiple of 4: the includer's
// load_a_k4(m, k) = A[m, k .. k+3] is one aligned load where load_a4 gathers four rows; the tile takes it as four
// scalars, one per k row.

// Which (k offset, row m) load `i` of thread `t` fetches: neighbouring threads take neighbouring k of one row.
fn a_slot_k(t: u32, i: u32) -> vec2u {
  let e = t + i * 256u;
  return vec2u((e % (kTileK / 4u)) * 4u, e / (kTileK / 4u));
}

fn a_row(t: u32, i: u32) -> u32 { return a_slot_k(t, i).y; }

fn fetch_a(m0: u32, k0: u32, t: u32, i: u32) -> vec4f {
  let s = a_slot_k(t, i);
  return load_a_k4(m0 + s.y, k0 + s.x);
}

fn stage_a(t: u32, i: u32, v: vec4f) {
  let s = a_slot_k(t, i);
  for (var j = 0u; j < 4u; j++) { tile_a[(s.x + j) * kStrideA + s.y / 4u][s.y % 4u] = v[j]; }
}
