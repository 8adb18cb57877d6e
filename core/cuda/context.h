#pragma once
// The per-device CUDA context: the streams work is ordered on, a pool of
// events and the pinned staging buffer that host <-> device copies go
// through. One per device, created on first use and never destroyed (tensors
// in static objects may still free memory at exit).
//
// Every kernel, library call and copy of the backend goes to
// current_stream(device): the device's compute stream unless a StreamScope
// on this thread says otherwise. The compute stream is non-blocking, so
// nothing on the legacy default stream orders against it: work that must
// follow it waits on an event or synchronises it explicitly.
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <vector>

#include "core/cuda/runtime.h"

namespace moe {
class Tensor;
}

namespace moe::cuda {

// Makes a device current for the guard's lifetime: cudaMalloc, stream and
// event creation and launches act on the current device.
class DeviceGuard {
 public:
  explicit DeviceGuard(int device);
  explicit DeviceGuard(const Tensor& t);  // the tensor's GPU
  ~DeviceGuard();
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_ = -1;
};

// Whether the work before event e has run ("not ready" is a status, not an
// error; any other failure throws).
bool event_done(cudaEvent_t e);

// Events without timing, reused: creating one per copy would cost a driver
// call each.
class EventPool {
 public:
  explicit EventPool(int device) : device_(device) {}
  cudaEvent_t acquire();
  void release(cudaEvent_t e);

 private:
  int device_;
  std::mutex mu_;
  std::vector<cudaEvent_t> free_;
};

// A ring of pinned host memory for host <-> device copies. A copy goes
// through it in chunks of at most half the ring, so the host fills one half
// while the device reads the other (double buffering); each chunk's region
// is reused only after the event recorded behind its transfer has fired.
// Uploads return as soon as the host data is in the ring: the caller may
// reuse its memory at once, and the device sees the data in stream order.
class PinnedStaging {
 public:
  PinnedStaging(int device, size_t bytes, EventPool* events);
  // dst (device memory) <- src (any host memory), ordered on `stream`.
  void upload(void* dst, const void* src, size_t bytes, cudaStream_t stream);
  // dst (any host memory) <- src (device memory) after `stream`'s work so
  // far; returns with the data in dst.
  void download(void* dst, const void* src, size_t bytes, cudaStream_t stream);
  size_t capacity() const { return capacity_; }
  // Chunks whose transfer was still queued when their region was needed
  // again (the ring was full and the host waited): for tests.
  int64_t waits() const;

 private:
  struct InFlight {
    size_t begin = 0, end = 0;
    cudaEvent_t done = nullptr;
  };
  // A region of n bytes (n <= capacity / 2) no queued transfer still uses.
  size_t reserve(size_t n);
  void retire_completed();
  template <typename F>
  void each_chunk(size_t bytes, F&& f);

  int device_;
  size_t capacity_;
  unsigned char* ring_ = nullptr;
  size_t head_ = 0;  // next free byte
  EventPool* events_;
  std::deque<InFlight> in_flight_;  // oldest first
  int64_t waits_ = 0;
  mutable std::mutex mu_;
};

struct DeviceContext {
  explicit DeviceContext(int device);
  int device;
  cudaStream_t compute = nullptr;  // kernels, libraries, allocation order
  cudaStream_t comm = nullptr;     // collectives (NCCL), beside compute
  cudaStream_t copy = nullptr;     // batch prefetch, beside compute
  std::vector<cudaStream_t> side;  // independent work items (core/cuda/streams.h)
  EventPool events;
  PinnedStaging staging;
};

// The context of device `device` (an error if it does not exist).
DeviceContext& device_context(int device);

// The stream this thread's work on `device` goes to.
cudaStream_t current_stream(int device);
// Of the current device (cudaGetDevice).
cudaStream_t current_stream();

// Sends this thread's work on `device` to `stream` for the scope's lifetime
// (scopes nest).
class StreamScope {
 public:
  StreamScope(int device, cudaStream_t stream);
  ~StreamScope();
  StreamScope(const StreamScope&) = delete;
  StreamScope& operator=(const StreamScope&) = delete;

 private:
  int device_;
};

// Makes `later` wait for the work queued on `earlier` so far (an event from
// the device's pool, returned once recorded and waited on).
void stream_wait(int device, cudaStream_t later, cudaStream_t earlier);

}  // namespace moe::cuda
