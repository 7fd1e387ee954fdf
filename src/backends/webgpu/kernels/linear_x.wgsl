// linear.wgsl's x as scalars: rows of any length; A loads gather four rows (A_TILE gemm_a_rows).

@group(0) @binding(1) var<storage, read_write> x: array<f32>;

fn x_at(i: u32) -> f32 { return x[i]; }
fn x_row4(i: u32) -> vec4f { return vec4f(x[i], x[i + 1u], x[i + 2u], x[i + 3u]); }
