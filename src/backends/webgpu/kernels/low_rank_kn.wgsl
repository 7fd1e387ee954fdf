// W' = W + up · down for a weight laid out K-major (wᵀ [K, npad]: the GEMM core's layout, and Winograd's
// U [16 · C, O4] with `down` transformed alike; webgpu_backend.cpp). Threads over (k, four columns n..n+3).
{{include low_rank_delta}}
{{weight_kn base 1}}

fn merged4(k: u32, n: u32) -> vec4f {
  let s = vec4f(scale_base(n), scale_base(n + 1u), scale_base(n + 2u), scale_base(n + 3u));
  return load_base4(k, n, p.npad) * s +
         vec4f(low_rank(n, k), low_rank(n + 1u, k), low_rank(n + 2u, k), low_rank(n + 3u, k));
}

fn at(wid: vec3u, nwg: vec3u, lid: u32) -> vec2u {  // (k, n), or k = K past the end
  let i = flat_index(wid, nwg, lid);
  let quads = p.npad / 4u;
  return vec2u(i / quads, (i % quads) * 4u);
}

@compute @workgroup_size(256)
fn merge_f32(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
             @builtin(local_invocation_index) lid: u32) {
  let kn = at(wid, nwg, lid);
  if (kn.x >= p.k) { return; }
  let v = merged4(kn.x, kn.y);
  let o = kn.x * p.npad + kn.y;
  dst[o] = bitcast<u32>(v.x);
  dst[o + 1u] = bitcast<u32>(v.y);
  dst[o + 2u] = bitcast<u32>(v.z);
  dst[o + 3u] = bitcast<u32>(v.w);
}

@compute @workgroup_size(256)
fn merge_f16(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
             @builtin(local_invocation_index) lid: u32) {
  let kn = at(wid, nwg, lid);
  if (kn.x >= p.k) { return; }
  let v = merged4(kn.x, kn.y);
  let o = (kn.x * p.npad + kn.y) / 2u;
  dst[o] = pack2x16float(v.xy);
  dst[o + 1u] = pack2x16float(v.zw);
}

// q8, first: each column's scale, max |W'[n, ·]| / 127, into the layout's [npad f32 scales] header.
@compute @workgroup_size(256)
fn merge_q8_scales(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                   @builtin(local_invocation_index) lid: u32) {
  let n = flat_index(wid, nwg, lid);
  if (n >= p.npad) { return; }
  let n4 = n & ~3u;
  let j = n & 3u;
  let s = scale_base(n);
  var m = 0.0;
  for (var k = 0u; k < p.k; k++) { m = max(m, abs(load_base4(k, n4, p.npad)[j] * s + low_rank(n, k))); }
  dst[n] = bitcast<u32>(q8_scale(m));
}

// q8, then: the values at those scales, four to a word after the header.
@compute @workgroup_size(256)
fn merge_q8(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
            @builtin(local_invocation_index) lid: u32) {
  let kn = at(wid, nwg, lid);
  if (kn.x >= p.k) { return; }
  let v = merged4(kn.x, kn.y);
  let n = kn.y;
  dst[p.npad + (kn.x * p.npad + n) / 4u] =
      q8_byte(v.x, bitcast<f32>(dst[n])) | (q8_byte(v.y, bitcast<f32>(dst[n + 1u])) << 8u) |
      (q8_byte(v.z, bitcast<f32>(dst[n + 2u])) << 16u) | (q8_byte(v.w, bitcast<f32>(dst[n + 3u])) << 24u);
}
