// Data movement: channel copies (concat, slice), nearest upsampling, and the NCHW <-> tokens transposes.
// One thread per element of y (or of the copied part of y).

struct Params {
  n: u32,             // elements to write
  channels: u32,      // channels moved per batch entry
  inner: u32,         // elements per channel (H·W)
  src_channels: u32,  // copy_channels: channels of x, and the first one copied
  src_begin: u32,
  dst_channels: u32,  // copy_channels: channels of y, and where the copy lands
  dst_begin: u32,
  _pad0: u32,
  in_h: u32,          // upsample
  in_w: u32,
  out_h: u32,
  out_w: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

// y[b, dst_begin + c, :] = x[b, src_begin + c, :] for c < channels
@compute @workgroup_size(256)
fn copy_channels(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                 @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wid, nwg, lid);
  if (i >= p.n) { return; }
  let s = i % p.inner;
  let c = (i / p.inner) % p.channels;
  let b = i / (p.inner * p.channels);
  y[((b * p.dst_channels + p.dst_begin + c) * p.inner) + s] = x[((b * p.src_channels + p.src_begin + c) * p.inner) + s];
}

// PyTorch 'nearest': src = floor(dst · in / out)
@compute @workgroup_size(256)
fn upsample_nearest(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                    @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wid, nwg, lid);
  if (i >= p.n) { return; }
  let ox = i % p.out_w;
  let oy = (i / p.out_w) % p.out_h;
  let plane = i / (p.out_w * p.out_h);
  y[i] = x[(plane * p.in_h + oy * p.in_h / p.out_h) * p.in_w + ox * p.in_w / p.out_w];
}

// [B, C, S] -> [B, S, C]
@compute @workgroup_size(256)
fn to_tokens(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
             @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wid, nwg, lid);
  if (i >= p.n) { return; }
  let c = i % p.channels;
  let s = (i / p.channels) % p.inner;
  let b = i / (p.channels * p.inner);
  y[i] = x[(b * p.channels + c) * p.inner + s];
}

// [B, S, C] -> [B, C, S]
@compute @workgroup_size(256)
fn to_image(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
            @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wid, nwg, lid);
  if (i >= p.n) { return; }
  let s = i % p.inner;
  let c = (i / p.inner) % p.channels;
  let b = i / (p.inner * p.channels);
  y[i] = x[(b * p.inner + s) * p.channels + c];
}
