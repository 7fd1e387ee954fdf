// Winograd F(2×2, 3×3), first step (winograd.wgsl): V = Bᵀ d B for every input channel and tile of the chunk,
// one thread each.

{{include winograd}}


@group(0) @binding(1) var<storage, read_write> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> v: array<f32>;

fn input_row(base: u32, iy: i32, ix: i32) -> vec4f {
  var r = vec4f(0.0);
  if (iy < 0 || iy >= i32(p.height)) { return r; }
  let row = base + u32(iy) * p.width;
  for (var j = 0; j < 4; j++) {
    let c = ix + j;
    if (c >= 0 && c < i32(p.width)) { r[j] = x[row + u32(c)]; }
  }
  return r;
}

// Bᵀ z for the four entries of z:  (z0 - z2, z1 + z2, z2 - z1, z1 - z3).
fn bt(z: vec4f) -> vec4f { return vec4f(z.x - z.z, z.y + z.z, z.z - z.y, z.y - z.w); }

@compute @workgroup_size(256)
fn winograd_input(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                  @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wid, nwg, lid);
  if (i >= p.channels * p.chunk4) { return; }
  let c = i / p.chunk4;
  let t = i % p.chunk4;
  var d0 = vec4f(0.0);
  var d1 = vec4f(0.0);
  var d2 = vec4f(0.0);
  var d3 = vec4f(0.0);
  if (t < p.chunk && p.tile_begin + t < p.tiles) {
    let o = tile_origin(p.tile_begin + t);
    let base = (o.x * p.channels + c) * p.height * p.width;
    let iy = i32(o.y) - 1;
    let ix = i32(o.z) - 1;
    d0 = input_row(base, iy, ix);
    d1 = input_row(base, iy + 1, ix);
    d2 = input_row(base, iy + 2, ix);
    d3 = input_row(base, iy + 3, ix);
  }
  // Bᵀ d (rows), then (Bᵀ d) B (each row's columns).
  let r0 = bt(d0 - d2);
  let r1 = bt(d1 + d2);
  let r2 = bt(d2 - d1);
  let r3 = bt(d1 - d3);
  let plane = p.channels * p.chunk4;
  let at = c * p.chunk4 + t;
  let rows = array<vec4f, 4>(r0, r1, r2, r3);
  for (var a = 0u; a < 4u; a++) {
    for (var b = 0u; b < 4u; b++) { v[(a * 4u + b) * plane + at] = rows[a][b]; }
  }
}

