// W' = W + up · down for a weight laid out as stored ([N, K] row-major; q8 with its header: rows, row length,
// rows f32 scales, then the values four to a word; webgpu_backend.cpp), read by the plain GEMM kernels.
{{include low_rank_delta}}
{{weight base 1}}

fn merged(i: u32) -> f32 { return load_base(i) + low_rank(i / p.k, i % p.k); }

@compute @workgroup_size(256)
fn merge_f32(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
             @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wid, nwg, lid);
  if (i < p.n * p.k) { dst[i] = bitcast<u32>(merged(i)); }
}

@compute @workgroup_size(256)
fn merge_f16(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
             @builtin(local_invocation_index) lid: u32) {
  let w = flat_index(wid, nwg, lid);
  let count = p.n * p.k;
  if (2u * w >= count) { return; }
  let hi = select(0.0, merged(2u * w + 1u), 2u * w + 1u < count);
  dst[w] = pack2x16float(vec2f(merged(2u * w), hi));
}

// q8, first: the header and each row's scale, max |W'[n, ·]| / 127.
@compute @workgroup_size(256)
fn merge_q8_scales(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                   @builtin(local_invocation_index) lid: u32) {
  let n = flat_index(wid, nwg, lid);
  if (n >= p.n) { return; }
  if (n == 0u) {
    dst[0] = p.n;
    dst[1] = p.k;
  }
  var m = 0.0;
  for (var k = 0u; k < p.k; k++) { m = max(m, abs(merged(n * p.k + k))); }
  dst[2u + n] = bitcast<u32>(q8_scale(m));
}

// q8, then: the values, four to a word (a word may span two rows).
@compute @workgroup_size(256)
fn merge_q8(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
            @builtin(local_invocation_index) lid: u32) {
  let w = flat_index(wid, nwg, lid);
  let count = p.n * p.k;
  if (4u * w >= count) { return; }
  var word = 0u;
  for (var j = 0u; j < 4u; j++) {
    let i = 4u * w + j;
    if (i < count) { word |= q8_byte(merged(i), bitcast<f32>(dst[2u + i / p.k])) << (8u * j); }
  }
  dst[2u + p.n + w] = word;
}
