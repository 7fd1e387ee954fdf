#include "backends/webgpu/gpu_device.h"

#include <vector>

#include "core/error.h"

namespace websd::webgpu {

void check(wsd_gpu_status status, const std::string& doing) {
  if (status == WSD_GPU_OK) return;
  const std::string message = "webgpu: " + doing + ": " + wsd_gpu_last_error();
  switch (status) {
    case WSD_GPU_ERROR_OUT_OF_MEMORY:
      throw Error(ErrorCode::kOutOfMemory, message + " (try a smaller image, or close other GPU programs)");
    case WSD_GPU_ERROR_DEVICE_LOST: throw Error(ErrorCode::kDeviceLost, message + " (open the model again)");
    case WSD_GPU_ERROR_UNAVAILABLE: throw Error(ErrorCode::kUnsupported, message);
    default: throw Error(ErrorCode::kInternal, message);
  }
}

Buffer::~Buffer() {
  if (handle_) wsd_gpu_buffer_destroy(handle_);  // best effort: a lost device has freed it already
}

Buffer& Buffer::operator=(Buffer&& o) noexcept {
  if (this != &o) {
    if (handle_) wsd_gpu_buffer_destroy(handle_);
    handle_ = o.handle_;
    size_ = o.size_;
    o.handle_ = 0;
  }
  return *this;
}

std::shared_ptr<Device> Device::open() {
  std::shared_ptr<Device> d(new Device());
  check(wsd_gpu_get_info(&d->info_), "opening the device");
  const uint64_t bytes = kPlaceholderStride * kPlaceholderSlots;
  d->placeholder_ = d->create_buffer(bytes, "placeholder");
  const std::vector<uint8_t> zeros(bytes, 0);
  check(wsd_gpu_buffer_write(d->placeholder_.handle(), 0, zeros.data(), bytes), "clearing the placeholder buffer");
  return d;
}

Device::~Device() {
  for (const auto& [key, pipeline] : pipelines_) wsd_gpu_pipeline_destroy(pipeline);
}

Buffer Device::create_buffer(uint64_t bytes, const std::string& what) {
  bytes = (bytes + 3) / 4 * 4;
  if (bytes > info_.max_buffer_size)
    throw Error(ErrorCode::kOutOfMemory, "webgpu: " + what + " needs a buffer of " + std::to_string(bytes >> 20) +
                                             " MiB, above this GPU's maxBufferSize of " +
                                             std::to_string(info_.max_buffer_size >> 20) + " MiB");
  wsd_gpu_buffer handle = 0;
  check(wsd_gpu_buffer_create(bytes, &handle), "allocating " + std::to_string(bytes) + " bytes for " + what);
  return Buffer(handle, bytes);
}

wsd_gpu_pipeline Device::pipeline(const KernelVariant& v) {
  const std::string key = v.key();
  std::lock_guard<std::mutex> lock(mu_);
  if (auto it = pipelines_.find(key); it != pipelines_.end()) return it->second;
  const std::string wgsl = v.wgsl();
  const std::vector<uint32_t> access(v.storage_bindings, 1);  // all read_write: see kernels/common.wgsl
  const wsd_gpu_layout layout{v.uniform_bytes, uint32_t(access.size()), access.data()};
  wsd_gpu_pipeline p = 0;
  check(wsd_gpu_pipeline_create(wgsl.c_str(), v.entry.c_str(), &layout, &p), "compiling kernel " + key);
  pipelines_.emplace(key, p);
  return p;
}

}  // namespace websd::webgpu
