// The B operand of conv2d_gemm.wgsl in general: im2col(x)[k, n .. n+3] gathered from NCHW x, zero in the padding.

@group(0) @binding(1) var<storage, read_write> x: array<f32>;

// Per B load of this thread and each of its four pixels: the offset in x of (b, channel 0, iy0, ix0) and iy0,
// ix0, the input position of the kernel's top-left tap (a pixel beyond the output gets an iy0 that is never in
// the image).
var<private> pixel_base: array<vec4i, kLoadsB>;
var<private> pixel_iy: array<vec4i, kLoadsB>;
var<private> pixel_ix: array<vec4i, kLoadsB>;

fn prepare_b(n: u32, i: u32) {
  let spatial = p.out_h * p.out_w;
  for (var j = 0u; j < 4u; j++) {
    let nj = n + j;
    let s = nj % spatial;
    let iy0 = i32((s / p.out_w) * kStride) - i32(p.pad);
    let ix0 = i32((s % p.out_w) * kStride) - i32(p.pad);
    pixel_base[i][j] = i32((nj / spatial) * p.channels * p.height * p.width) + iy0 * i32(p.width) + ix0;
    pixel_iy[i][j] = select(-1000000, iy0, nj < p.n);
    pixel_ix[i][j] = ix0;
  }
}

// im2col(x)[k, n .. n+3], zero in the padding.
fn load_b4(k: u32, n: u32, i: u32) -> vec4f {
  var v = vec4f(0.0);
  if (k >= p.k) { return v; }
  let c = k / (kKernelH * kKernelW);
  let ky = (k / kKernelW) % kKernelH;
  let kx = k % kKernelW;
  let offset = i32((c * p.height + ky) * p.width + kx);
  for (var j = 0u; j < 4u; j++) {
    let iy = u32(pixel_iy[i][j] + i32(ky));
    let ix = u32(pixel_ix[i][j] + i32(kx));
    if (iy < p.height && ix < p.width) { v[j] = x[u32(pixel_base[i][j] + offset)]; }
  }
  return v;
}
