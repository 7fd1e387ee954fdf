// Weights re-laid on the GPU while they are uploaded (webgpu_backend.cpp): f16 and f32 weights go up as stored and
// these write the layouts the kernels read, so that opening a model costs the upload of its bytes and not a
// transform of each weight on the CPU (a single wasm thread). Once per weight, not per run.
//   kn_f16, kn_f32: w [N, K] -> wᵀ [K, N4] (the GEMM core's K-major layout, N padded to a multiple of 4 with zeros)
//   winograd: a 3×3 kernel g [O, C, 3, 3] -> U = G g Gᵀ at the 16 positions ξ, [16 · C, O4] (Winograd F(2×2, 3×3))
//             in f16 or f32 (OUT_F16), from g in f16 or f32 (IN_F16)

struct Params {
  n: u32,   // N (kn) or O (winograd)
  k: u32,   // K (kn) or C (winograd)
  n4: u32,  // N or O rounded up to 4
  _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> src: array<u32>;  // as stored, in words
@group(0) @binding(2) var<storage, read_write> dst: array<u32>;  // the layout, in words

const kInF16 = {{IN_F16}};
const kOutF16 = {{OUT_F16}};

fn half_bits(e: u32) -> u32 { return (src[e >> 1u] >> ((e & 1u) * 16u)) & 0xffffu; }

fn value(e: u32) -> f32 {
  if (kInF16) { return unpack2x16float(half_bits(e)).x; }
  return bitcast<f32>(src[e]);
}

// Threads over (k, two columns n, n + 1): one word of the f16 layout each.
@compute @workgroup_size(256)
fn kn_f16(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
          @builtin(local_invocation_index) lid: u32) {
  let t = flat_index(wid, nwg, lid);
  let pairs = p.n4 / 2u;
  if (t >= p.k * pairs) { return; }
  let k = t / pairs;
  let n = (t % pairs) * 2u;
  var word = 0u;
  if (n < p.n) { word = half_bits(n * p.k + k); }
  if (n + 1u < p.n) { word |= half_bits((n + 1u) * p.k + k) << 16u; }
  dst[t] = word;
}

@compute @workgroup_size(256)
fn kn_f32(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
          @builtin(local_invocation_index) lid: u32) {
  let t = flat_index(wid, nwg, lid);
  if (t >= p.k * p.n4) { return; }
  let k = t / p.n4;
  let n = t % p.n4;
  dst[t] = select(0u, src[n * p.k + k], n < p.n);
}

// U = G g Gᵀ of output channel o's kernel over input channel c (zero past O), in f32.
fn transformed(o: u32, c: u32) -> array<f32, 16> {
  var u: array<f32, 16>;
  if (o >= p.n) { return u; }
  let base = (o * p.k + c) * 9u;
  var gk: array<f32, 12>;  // G g, [4][3]
  for (var j = 0u; j < 3u; j++) {
    let g0 = value(base + j);
    let g1 = value(base + 3u + j);
    let g2 = value(base + 6u + j);
    gk[j] = g0;
    gk[3u + j] = 0.5 * (g0 + g1 + g2);
    gk[6u + j] = 0.5 * (g0 - g1 + g2);
    gk[9u + j] = g2;
  }
  for (var a = 0u; a < 4u; a++) {
    let r0 = gk[a * 3u];
    let r1 = gk[a * 3u + 1u];
    let r2 = gk[a * 3u + 2u];
    u[a * 4u] = r0;
    u[a * 4u + 1u] = 0.5 * (r0 + r1 + r2);
    u[a * 4u + 2u] = 0.5 * (r0 - r1 + r2);
    u[a * 4u + 3u] = r2;
  }
  return u;
}

// Threads over (c, two output channels o, o + 1).
@compute @workgroup_size(256)
fn winograd(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
            @builtin(local_invocation_index) lid: u32) {
  let t = flat_index(wid, nwg, lid);
  let pairs = p.n4 / 2u;
  if (t >= p.k * pairs) { return; }
  let c = t / pairs;
  let o = (t % pairs) * 2u;
  let u0 = transformed(o, c);
  let u1 = transformed(o + 1u, c);
  for (var x = 0u; x < 16u; x++) {
    let at = (x * p.k + c) * p.n4 + o;
    if (kOutF16) {
      dst[at / 2u] = pack2x16float(vec2f(u0[x], u1[x]));
    } else {
      dst[at] = bitcast<u32>(u0[x]);
      dst[at + 1u] = bitcast<u32>(u1[x]);
    }
  }
}
