#pragma once
// Device memory of one GPU through the CUDA runtime, and the process's caching
// allocator for each device (core/caching_allocator.h holds the policy).
#include "core/caching_allocator.h"
#include "core/cuda/runtime.h"

namespace moe {

class CudaDeviceMemory final : public RawDeviceMemory {
 public:
  explicit CudaDeviceMemory(int device);
  void* allocate(size_t nbytes) override;
  void release(void* p) override;
  EventHandle create_event() override;
  void record_event(EventHandle e, StreamHandle s) override;
  bool event_completed(EventHandle e) override;
  void synchronize_event(EventHandle e) override;
  void destroy_event(EventHandle e) override;
  // Allocations are ordered on cuda::current_stream(device) (core/cuda/context.h).
  StreamHandle current_stream() override;
  Device device() const override { return Device::cuda(device_); }

 private:
  int device_;
};

// The caching allocator of one device; created on first use, never destroyed
// (tensors in static objects may outlive other statics).
CachingDeviceAllocator* cuda_caching_allocator(int device);

}  // namespace moe
