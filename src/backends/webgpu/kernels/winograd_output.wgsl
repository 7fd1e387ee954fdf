// Winograd F(2×2, 3×3), last step (winograd.wgsl): y = Aᵀ M A + bias for every output channel and tile of the
// chunk, one thread each.

{{include winograd}}


@group(0) @binding(1) var<storage, read_write> m: array<f32>;
{{weight bias 2}}
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<storage, read_write> res: array<f32>;

// Aᵀ z for the four entries of z:  (z0 + z1 + z2, z1 - z2 - z3).
fn at2(z: vec4f) -> vec2f { return vec2f(z.x + z.y + z.z, z.y - z.z - z.w); }

@compute @workgroup_size(256)
fn winograd_output(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                   @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wid, nwg, lid);
  if (i >= p.out_channels * p.chunk) { return; }
  let o = i / p.chunk;
  let t = i % p.chunk;
  if (p.tile_begin + t >= p.tiles) { return; }
  let plane = p.out_channels * p.chunk4;
  let at = o * p.chunk4 + t;
  var q: array<vec4f, 4>;
  for (var a = 0u; a < 4u; a++) {
    for (var b = 0u; b < 4u; b++) { q[a][b] = m[(a * 4u + b) * plane + at]; }
  }
  // Aᵀ M (rows), then (Aᵀ M) A.
  let top = at2(vec4f(q[0].x + q[1].x + q[2].x, q[0].y + q[1].y + q[2].y, q[0].z + q[1].z + q[2].z,
                      q[0].w + q[1].w + q[2].w));
  let s = q[1] - q[2] - q[3];
  let bottom = at2(s);
  var bias = 0.0;
  if (p.has_bias != 0u) { bias = load_bias(o); }
  let origin = tile_origin(p.tile_begin + t);
  let base = (origin.x * p.out_channels + o) * p.height * p.width;
  let left = origin.z;
  var values = array<f32, 4>(top.x, top.y, bottom.x, bottom.y);
  for (var e = 0u; e < 4u; e++) {
    let row = origin.y + e / 2u;
    let col = left + e % 2u;
    if (row < p.height && col < p.width) {
      let at = base + row * p.width + col;
      var value = values[e] + bias;
      if (p.has_residual != 0u) { value += res[at]; }
      y[at] = value;
    }
  }
}
