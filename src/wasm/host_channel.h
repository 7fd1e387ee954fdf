// How the engine, running on a wasm pthread, calls its JS host (js/lib/engine.mjs): WebGPU, progress, job end.
//
// WebGPU is asynchronous and the engine is synchronous C++. The engine therefore never runs on the thread that owns
// the GPUDevice: it runs on an "engine thread" (a pthread started per job), writes each request into a mailbox in
// shared wasm memory and sleeps in Atomics.wait. The host thread (a page, a Worker, or Node's main thread) serves
// the mailbox from an async loop (Atomics.waitAsync), awaits whatever the request needs (mapAsync, error scopes),
// writes the reply and wakes the engine. The host thread never blocks, so it also keeps serving emscripten's own
// proxied calls (file system, thread creation) in between.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

namespace websd::wasm {

// Request codes. The JS host (js/lib/engine.mjs, js/lib/gpu-host.mjs) switches on the same numbers.
enum class HostOp : int32_t {
  kJobDone = 1,   // args: status, message pointer. Ends the job; the host resolves its promise.
  kProgress = 2,  // args: image, step, steps. Reply status 0 = go on, 1 = cancel.
  kPreview = 3,   // args: image, step, rgb pointer, width, height. The host copies the pixels before replying.
  kGpuFirst = 100,  // 100.. are the WebGPU seam's calls (src/backends/webgpu/gpu_seam.h, src/wasm/gpu_seam_wasm.cpp)
};

// The mailbox as the host sees it at the address websd_host_mailbox() returns. Layout is ABI: the JS side reads
// these offsets (in 4-byte words: state 0, op 1, status 2, args 4.., results 20.., message 28..).
struct Mailbox {
  static constexpr int kArgs = 16, kResults = 8, kMessageBytes = 2048;
  int32_t state;  // kIdle, kRequest (engine -> host), kReply (host -> engine)
  int32_t op;
  int32_t status;  // the host's answer: 0 = ok, otherwise a HostOp-specific code
  int32_t reserved;
  uint32_t args[kArgs];
  uint32_t results[kResults];
  char message[kMessageBytes];  // the host's error message (NUL-terminated) when status != 0
};
static_assert(sizeof(Mailbox) == 4 * (4 + Mailbox::kArgs + Mailbox::kResults) + Mailbox::kMessageBytes);

struct HostReply {
  int32_t status = 0;
  uint32_t results[Mailbox::kResults] = {};
  std::string message;
};

// Sends one request and blocks the calling (non-host) thread until the host replies. Thread-safe: concurrent
// callers take turns.
HostReply call_host(HostOp op, std::initializer_list<uint32_t> args);

// Starts `job` on a new engine thread and returns at once. When the job returns (or throws) the thread sends
// kJobDone with the job's status and message, which the host awaits. Status 0 is success; a websd::Error thrown
// out of the job becomes its C API status (code + 1, as include/websd/websd.h numbers them), std::bad_alloc out of
// memory, anything else -1.
void start_job(std::function<int32_t(std::string& message)> job);

}  // namespace websd::wasm
