/* The host seam: the narrow C ABI through which the webgpu backend uses WebGPU. The engine never touches a WebGPU
 * object; it names buffers, pipelines and programs by integer handles. One JS implementation (js/lib/gpu-host.mjs)
 * serves it for any `GPU` object (navigator.gpu in a page or Worker, the npm `webgpu` package's in Node); in the
 * wasm build each call travels through the host channel (src/wasm/gpu_seam_wasm.cpp).
 *
 * Conventions:
 * - Every call returns a wsd_gpu_status; on failure wsd_gpu_last_error() says why, for people.
 * - Errors of asynchronous GPU work (validation of a submitted program, out-of-memory, device loss) are sticky:
 *   they are reported by the next call that waits for the GPU (wsd_gpu_buffer_read, wsd_gpu_finish) at the latest.
 *   After WSD_GPU_ERROR_DEVICE_LOST every call fails the same way; the caller reopens its model.
 * - Buffers are storage buffers that can also be copied from and to (STORAGE | COPY_SRC | COPY_DST).
 * - In a pipeline's WGSL, group 0 binding 0 is the uniform block (when the pipeline has one) and storage
 *   bindings are numbered 1, 2, ... in the order of the layout's `access` list.
 * - A program is a fixed list of dispatches. Its bind groups and its one uniform buffer are built once, at
 *   creation; running it encodes every dispatch into one compute pass of one command buffer and submits it.
 */
#ifndef WEBSD_GPU_SEAM_H
#define WEBSD_GPU_SEAM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum wsd_gpu_status {
  WSD_GPU_OK = 0,
  WSD_GPU_ERROR_VALIDATION = 1,    /* a request WebGPU rejected (a WGSL compile error, a bad binding, a limit) */
  WSD_GPU_ERROR_OUT_OF_MEMORY = 2, /* the GPU could not allocate */
  WSD_GPU_ERROR_DEVICE_LOST = 3,   /* the device is gone (driver reset, tab in background too long, destroy) */
  WSD_GPU_ERROR_UNAVAILABLE = 4,   /* no WebGPU, no adapter, or no device with the needed limits */
  WSD_GPU_ERROR_INTERNAL = 5,      /* anything else (an exception in the host) */
} wsd_gpu_status;

typedef uint32_t wsd_gpu_buffer;   /* 0 is never a valid handle */
typedef uint32_t wsd_gpu_pipeline;
typedef uint32_t wsd_gpu_program;

/* What the device offers: the adapter's real limits, requested in full when the host created the device. */
typedef struct wsd_gpu_info {
  uint64_t max_buffer_size;
  uint64_t max_storage_buffer_binding_size;
  uint32_t min_storage_buffer_offset_alignment;
  uint32_t min_uniform_buffer_offset_alignment;
  uint32_t max_storage_buffers_per_shader_stage;
  uint32_t max_compute_workgroup_storage_size;
  uint32_t max_compute_invocations_per_workgroup;
  uint32_t max_compute_workgroup_size_x;
  uint32_t max_compute_workgroup_size_y;
  uint32_t max_compute_workgroups_per_dimension;
  uint32_t has_shader_f16;
  uint32_t has_subgroups;
  uint32_t has_timestamp_query;
  uint32_t subgroup_min_size; /* the adapter's smallest subgroup size; 0 when it does not say */
  uint32_t is_software;       /* the adapter runs compute on the CPU (SwiftShader, a fallback adapter) */
  uint32_t reserved;
  char description[128]; /* "vendor architecture device (backend)", NUL-terminated */
} wsd_gpu_info;         /* 200 bytes */

/* A pipeline's bindings: `uniform_bytes` > 0 declares the uniform block at binding 0; access[i] (0 = read,
 * 1 = read_write) declares storage binding i + 1. */
typedef struct wsd_gpu_layout {
  uint32_t uniform_bytes;
  uint32_t storage_count;
  const uint32_t* access;
} wsd_gpu_layout; /* 12 bytes */

/* One storage binding of a dispatch: `size` bytes of `buffer` from `offset` (a multiple of the device's
 * min_storage_buffer_offset_alignment; size a multiple of 4 and at most max_storage_buffer_binding_size). */
typedef struct wsd_gpu_binding {
  wsd_gpu_buffer buffer;
  uint32_t reserved;
  uint64_t offset;
  uint64_t size;
} wsd_gpu_binding; /* 24 bytes */

typedef struct wsd_gpu_dispatch {
  wsd_gpu_pipeline pipeline;
  uint32_t binding_count;
  const wsd_gpu_binding* bindings; /* storage bindings 1..binding_count */
  const void* uniforms;            /* copied at program creation; NULL when uniform_size is 0 */
  uint32_t uniform_size;
  uint32_t workgroups[3];
} wsd_gpu_dispatch; /* 32 bytes */

/* The message of the last failed call on this thread. */
const char* wsd_gpu_last_error(void);

wsd_gpu_status wsd_gpu_get_info(wsd_gpu_info* out);

wsd_gpu_status wsd_gpu_buffer_create(uint64_t size, wsd_gpu_buffer* out);
/* Queues a write of `size` bytes (a multiple of 4) at `offset`; ordered before every later program run. */
wsd_gpu_status wsd_gpu_buffer_write(wsd_gpu_buffer buffer, uint64_t offset, const void* data, uint64_t size);
/* Waits for all submitted work, then copies `size` bytes (a multiple of 4) from `offset` into dst. */
wsd_gpu_status wsd_gpu_buffer_read(wsd_gpu_buffer buffer, uint64_t offset, void* dst, uint64_t size);
void wsd_gpu_buffer_destroy(wsd_gpu_buffer buffer);

/* Compiles `wgsl` (NUL-terminated) into a compute pipeline for `entry_point`. layout NULL means 'auto' (derived
 * from the shader; only bindings the entry point uses may then be bound). Compile errors come back with their
 * line numbers in the message. */
wsd_gpu_status wsd_gpu_pipeline_create(const char* wgsl, const char* entry_point, const wsd_gpu_layout* layout,
                                       wsd_gpu_pipeline* out);
void wsd_gpu_pipeline_destroy(wsd_gpu_pipeline pipeline);

wsd_gpu_status wsd_gpu_program_create(const wsd_gpu_dispatch* dispatches, uint32_t count, wsd_gpu_program* out);
/* Encodes and submits the whole program; returns without waiting for the GPU. */
wsd_gpu_status wsd_gpu_program_run(wsd_gpu_program program);
void wsd_gpu_program_destroy(wsd_gpu_program program);
/* Runs the program once with every dispatch in a compute pass of its own, timed with timestamp queries, waits
 * for it, and writes each dispatch's GPU time in nanoseconds to durations_ns[0 .. dispatch count). Fails with
 * WSD_GPU_ERROR_UNAVAILABLE where the device has no timestamp-query feature. For profiles only: the extra passes
 * cost a little time of their own. */
wsd_gpu_status wsd_gpu_program_profile(wsd_gpu_program program, uint64_t* durations_ns);

/* Waits until all submitted work is done; reports any error it raised. */
wsd_gpu_status wsd_gpu_finish(void);

#ifdef __cplusplus
}
#endif

#endif /* WEBSD_GPU_SEAM_H */
