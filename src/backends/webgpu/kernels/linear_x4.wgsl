// linear.wgsl's x as vectors, for rows (K) a multiple of 4 long: A loads are one aligned vector along k
// (A_TILE gemm_a_k).

@group(0) @binding(1) var<storage, read_write> x: array<vec4f>;

fn x_at(i: u32) -> f32 { return x[i >> 2u][i & 3u]; }
fn x_row4(i: u32) -> vec4f { return x[i >> 2u]; }
