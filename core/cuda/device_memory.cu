#include "core/cuda/device_memory.h"

#include <memory>
#include <mutex>
#include <vector>

#include "core/cuda/context.h"
#include "core/cuda/runtime.h"

namespace moe {

namespace {

using cuda::DeviceGuard;

cudaEvent_t as_event(EventHandle e) { return static_cast<cudaEvent_t>(e); }

}  // namespace

CudaDeviceMemory::CudaDeviceMemory(int device) : device_(device) {
  const int n = cuda_device_count();
  MOE_CHECK(device >= 0 && device < n, "CudaDeviceMemory: device ", device, " does not exist (", n,
            " CUDA devices)");
}

void* CudaDeviceMemory::allocate(size_t nbytes) {
  DeviceGuard guard(device_);
  void* p = nullptr;
  const cudaError_t err = cudaMalloc(&p, nbytes);
  if (err == cudaErrorMemoryAllocation) {
    (void)cudaGetLastError();  // not sticky: clear it so later calls start clean
    return nullptr;
  }
  MOE_CUDA_CHECK(err);
  return p;
}

void CudaDeviceMemory::release(void* p) {
  DeviceGuard guard(device_);
  MOE_CUDA_CHECK(cudaFree(p));
}

EventHandle CudaDeviceMemory::create_event() {
  DeviceGuard guard(device_);
  cudaEvent_t e = nullptr;
  MOE_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
  return e;
}

void CudaDeviceMemory::record_event(EventHandle e, StreamHandle s) {
  DeviceGuard guard(device_);
  MOE_CUDA_CHECK(cudaEventRecord(as_event(e), static_cast<cudaStream_t>(s)));
}

bool CudaDeviceMemory::event_completed(EventHandle e) { return cuda::event_done(as_event(e)); }

void CudaDeviceMemory::synchronize_event(EventHandle e) { MOE_CUDA_CHECK(cudaEventSynchronize(as_event(e))); }

void CudaDeviceMemory::destroy_event(EventHandle e) { MOE_CUDA_CHECK(cudaEventDestroy(as_event(e))); }

StreamHandle CudaDeviceMemory::current_stream() { return cuda::current_stream(device_); }

CachingDeviceAllocator* cuda_caching_allocator(int device) {
  static std::mutex mu;
  static auto* allocators = new std::vector<CachingDeviceAllocator*>();
  std::lock_guard<std::mutex> lock(mu);
  if (allocators->empty()) allocators->resize(size_t(cuda_device_count()), nullptr);
  MOE_CHECK(device >= 0 && size_t(device) < allocators->size(), "cuda_caching_allocator: device ", device,
            " does not exist (", allocators->size(), " CUDA devices)");
  auto& a = (*allocators)[size_t(device)];
  if (a == nullptr) a = new CachingDeviceAllocator(new CudaDeviceMemory(device));
  return a;
}

// Storage's allocator for cuda:N tensors (core/storage.h).
Allocator* cuda_allocator(int index) { return cuda_caching_allocator(index); }

}  // namespace moe
