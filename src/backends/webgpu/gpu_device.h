// The GPU as the webgpu backend sees it, over the host seam (gpu_seam.h): the device's limits, buffers that free
// themselves, and compute pipelines compiled once per kernel variant.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "backends/webgpu/gpu_seam.h"
#include "backends/webgpu/kernel_source.h"

namespace websd::webgpu {

// Throws Error for a failed seam call: the seam's message after `doing` ("uploading weight x"). A lost device
// becomes kDeviceLost, an allocation failure kOutOfMemory, a missing WebGPU kUnsupported.
void check(wsd_gpu_status status, const std::string& doing);

class Buffer {
 public:
  Buffer() = default;
  Buffer(wsd_gpu_buffer handle, uint64_t size) : handle_(handle), size_(size) {}
  ~Buffer();
  Buffer(Buffer&& o) noexcept : handle_(o.handle_), size_(o.size_) { o.handle_ = 0; }
  Buffer& operator=(Buffer&& o) noexcept;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  wsd_gpu_buffer handle() const { return handle_; }
  uint64_t size() const { return size_; }

 private:
  wsd_gpu_buffer handle_ = 0;
  uint64_t size_ = 0;
};

class Device {
 public:
  // Asks the host for its device. Throws Error(kUnsupported) when it has none, with the host's reason.
  static std::shared_ptr<Device> open();
  ~Device();

  const wsd_gpu_info& info() const { return info_; }
  std::string description() const { return info_.description; }

  // A buffer of `bytes` (rounded up to 4). Throws, naming `what` and the limit, beyond maxBufferSize.
  Buffer create_buffer(uint64_t bytes, const std::string& what);
  // The compiled pipeline of a variant, compiled on first use.
  wsd_gpu_pipeline pipeline(const KernelVariant& variant);
  // Zero bytes to bind where a kernel's optional operands (a bias, split-K partial sums) are absent: 16 bytes at
  // each multiple of kPlaceholderStride below kPlaceholderSlots of them, so that two absent operands of one
  // dispatch never alias (WebGPU forbids aliasing writable bindings).
  static constexpr uint64_t kPlaceholderStride = 256, kPlaceholderSlots = 3;
  const Buffer& placeholder() const { return placeholder_; }

 private:
  Device() = default;
  wsd_gpu_info info_{};
  std::mutex mu_;
  std::unordered_map<std::string, wsd_gpu_pipeline> pipelines_;
  Buffer placeholder_;
};

}  // namespace websd::webgpu
