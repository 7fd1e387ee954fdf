#include "wasm/host_channel.h"

#include <emscripten/emscripten.h>
#include <emscripten/threading.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <mutex>
#include <new>
#include <thread>

#include "core/error.h"

namespace websd::wasm {
namespace {

enum State : int32_t { kIdle = 0, kRequest = 1, kReply = 2 };

alignas(64) Mailbox g_mailbox;
std::mutex g_callers;  // one request in flight at a time

std::atomic<int32_t>& state() { return reinterpret_cast<std::atomic<int32_t>&>(g_mailbox.state); }

}  // namespace

HostReply call_host(HostOp op, std::initializer_list<uint32_t> args) {
  std::lock_guard<std::mutex> lock(g_callers);
  Mailbox& m = g_mailbox;
  m.op = int32_t(op);
  m.status = 0;
  m.message[0] = '\0';
  size_t i = 0;
  for (uint32_t a : args) m.args[i++] = a;
  for (; i < Mailbox::kArgs; ++i) m.args[i] = 0;
  state().store(kRequest, std::memory_order_seq_cst);
  emscripten_futex_wake(&m.state, 1);
  // The host may take seconds (a GPU read-back after a long run); wait without a deadline. A lost device or a
  // failed request still gets a reply, so this never hangs on a healthy host.
  while (state().load(std::memory_order_seq_cst) == kRequest) emscripten_futex_wait(&m.state, kRequest, INFINITY);
  HostReply reply;
  reply.status = m.status;
  std::memcpy(reply.results, m.results, sizeof m.results);
  if (m.status != 0) reply.message.assign(m.message, strnlen(m.message, Mailbox::kMessageBytes));
  state().store(kIdle, std::memory_order_seq_cst);
  return reply;
}

void start_job(std::function<int32_t(std::string& message)> job) {
  std::thread([job = std::move(job)] {
    std::string message;
    int32_t status;
    try {
      status = job(message);
    } catch (const Error& e) {  // the C API's status for its code (websd.h: WEBSD_ERROR_* = code + 1)
      status = int32_t(e.code()) + 1;
      message = e.what();
    } catch (const std::bad_alloc&) {
      status = int32_t(ErrorCode::kOutOfMemory) + 1;
      message = "out of memory";
    } catch (const std::exception& e) {
      status = -1;
      message = e.what();
    } catch (...) {
      status = -1;
      message = "unknown exception";
    }
    call_host(HostOp::kJobDone, {uint32_t(status), uint32_t(reinterpret_cast<uintptr_t>(message.c_str()))});
  }).detach();
}

}  // namespace websd::wasm

extern "C" {

// Where the host finds the mailbox (see Mailbox for the layout).
EMSCRIPTEN_KEEPALIVE void* websd_host_mailbox(void) { return &websd::wasm::g_mailbox; }

}
