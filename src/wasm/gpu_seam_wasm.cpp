// The WebGPU seam in the wasm build: each call becomes one request to the JS host (js/lib/gpu-host.mjs) through
// the host channel. 64-bit values travel as two words, low first; pointers are wasm32 addresses that the host
// reads or writes directly in the shared memory.
#include <cstring>
#include <string>

#include "backends/webgpu/gpu_seam.h"
#include "wasm/host_channel.h"

namespace {

using websd::wasm::call_host;
using websd::wasm::HostOp;
using websd::wasm::HostReply;

// Request codes, after HostOp::kGpuFirst; js/lib/gpu-host.mjs has the same table.
enum GpuOp : int32_t {
  kGetInfo = 100,
  kBufferCreate,
  kBufferWrite,
  kBufferRead,
  kBufferDestroy,
  kPipelineCreate,
  kPipelineDestroy,
  kProgramCreate,
  kProgramRun,
  kProgramDestroy,
  kFinish,
  kProgramProfile,
};
static_assert(kGetInfo == int32_t(HostOp::kGpuFirst));

static_assert(sizeof(wsd_gpu_info) == 200 && sizeof(wsd_gpu_layout) == 12 && sizeof(wsd_gpu_binding) == 24 &&
                  sizeof(wsd_gpu_dispatch) == 32,
              "the JS host reads these structs at fixed offsets (js/lib/gpu-host.mjs)");

thread_local std::string last_error;

uint32_t lo(uint64_t v) { return uint32_t(v); }
uint32_t hi(uint64_t v) { return uint32_t(v >> 32); }
uint32_t addr(const void* p) { return uint32_t(reinterpret_cast<uintptr_t>(p)); }

wsd_gpu_status call(GpuOp op, std::initializer_list<uint32_t> args, uint32_t* result = nullptr) {
  HostReply r = call_host(HostOp(op), args);
  if (r.status != WSD_GPU_OK) last_error = std::move(r.message);
  if (result) *result = r.results[0];
  return wsd_gpu_status(r.status);
}

}  // namespace

extern "C" {

const char* wsd_gpu_last_error(void) { return last_error.c_str(); }

wsd_gpu_status wsd_gpu_get_info(wsd_gpu_info* out) { return call(kGetInfo, {addr(out)}); }

wsd_gpu_status wsd_gpu_buffer_create(uint64_t size, wsd_gpu_buffer* out) {
  return call(kBufferCreate, {lo(size), hi(size)}, out);
}

wsd_gpu_status wsd_gpu_buffer_write(wsd_gpu_buffer buffer, uint64_t offset, const void* data, uint64_t size) {
  return call(kBufferWrite, {buffer, lo(offset), hi(offset), addr(data), lo(size), hi(size)});
}

wsd_gpu_status wsd_gpu_buffer_read(wsd_gpu_buffer buffer, uint64_t offset, void* dst, uint64_t size) {
  return call(kBufferRead, {buffer, lo(offset), hi(offset), addr(dst), lo(size), hi(size)});
}

void wsd_gpu_buffer_destroy(wsd_gpu_buffer buffer) { call(kBufferDestroy, {buffer}); }

wsd_gpu_status wsd_gpu_pipeline_create(const char* wgsl, const char* entry_point, const wsd_gpu_layout* layout,
                                       wsd_gpu_pipeline* out) {
  return call(kPipelineCreate, {addr(wgsl), addr(entry_point), addr(layout)}, out);
}

void wsd_gpu_pipeline_destroy(wsd_gpu_pipeline pipeline) { call(kPipelineDestroy, {pipeline}); }

wsd_gpu_status wsd_gpu_program_create(const wsd_gpu_dispatch* dispatches, uint32_t count, wsd_gpu_program* out) {
  return call(kProgramCreate, {addr(dispatches), count}, out);
}

wsd_gpu_status wsd_gpu_program_run(wsd_gpu_program program) { return call(kProgramRun, {program}); }

void wsd_gpu_program_destroy(wsd_gpu_program program) { call(kProgramDestroy, {program}); }

wsd_gpu_status wsd_gpu_finish(void) { return call(kFinish, {}); }

wsd_gpu_status wsd_gpu_program_profile(wsd_gpu_program program, uint64_t* durations_ns) {
  return call(kProgramProfile, {program, addr(durations_ns)});
}

}  // extern "C"
