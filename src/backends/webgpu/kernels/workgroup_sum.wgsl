// The sum of `v` over the 256 threads of a workgroup, returned to every thread: a tree in workgroup memory. For
// kernels of @workgroup_size(256) (norm.wgsl, group_norm.wgsl include it); every thread must call it.

var<workgroup> partial_sums: array<f32, 256>;

fn workgroup_sum(v: f32, lid: u32) -> f32 {
  partial_sums[lid] = v;
  workgroupBarrier();
  for (var stride = 128u; stride > 0u; stride /= 2u) {
    if (lid < stride) { partial_sums[lid] += partial_sums[lid + stride]; }
    workgroupBarrier();
  }
  let total = partial_sums[0];
  workgroupBarrier();
  return total;
}
