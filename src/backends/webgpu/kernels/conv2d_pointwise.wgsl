// The B operand of conv2d_gemm.wgsl for 1x1 convolutions with stride 1 and no padding whose images have a
// multiple of 4 pixels: B = x[b] as [C, H·W] per image, so B[k, n .. n+3] is one aligned vector of x (four
// neighbouring pixels of one image), where the im2col gather (conv2d_im2col.wgsl) loads four scalars.

@group(0) @binding(1) var<storage, read_write> x: array<vec4f>;

// Per B load of this thread: the offset in x of (b, channel 0, s) of its first pixel, or -1 beyond the output.
var<private> pixel_base: array<i32, kLoadsB>;

fn prepare_b(n: u32, i: u32) {
  let spatial = p.out_h * p.out_w;
  pixel_base[i] = select(-1, i32((n / spatial) * p.channels * spatial + n % spatial), n < p.n);
}

fn load_b4(k: u32, n: u32, i: u32) -> vec4f {
  if (k >= p.k || pixel_base[i] < 0) { return vec4f(0.0); }
  return x[(u32(pixel_base[i]) + k * p.out_h * p.out_w) >> 2u];
}
