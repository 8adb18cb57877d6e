#include "core/cuda/context.h"

#include <algorithm>
#include <cstring>
#include <memory>

namespace moe::cuda {

namespace {

// 2 x 8 MiB: a batch of 16k tokens' ids and targets is 256 KiB, a grouped
// GEMM's pointer arrays a few KiB; weights loaded from a checkpoint stream
// through in 8 MiB chunks.
constexpr size_t kStagingBytes = size_t(16) << 20;
constexpr size_t kAlign = 256;

size_t round_up(size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

// Makes `device` current for the calls in its scope (stream and event
// creation act on the current device).
class OnDevice {
 public:
  explicit OnDevice(int device) {
    MOE_CUDA_CHECK(cudaGetDevice(&previous_));
    if (previous_ != device) MOE_CUDA_CHECK(cudaSetDevice(device));
  }
  ~OnDevice() {
    int now = -1;
    if (cudaGetDevice(&now) == cudaSuccess && now != previous_) (void)cudaSetDevice(previous_);
  }
  OnDevice(const OnDevice&) = delete;
  OnDevice& operator=(const OnDevice&) = delete;

 private:
  int previous_ = 0;
};

bool completed(cudaEvent_t e) {
  const cudaError_t err = cudaEventQuery(e);
  if (err == cudaErrorNotReady) {
    (void)cudaGetLastError();  // a status, not an error
    return false;
  }
  MOE_CUDA_CHECK(err);
  return true;
}

// This thread's stream overrides, innermost last.
struct Override {
  int device;
  cudaStream_t stream;
};
thread_local std::vector<Override> t_overrides;

}  // namespace

cudaEvent_t EventPool::acquire() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!free_.empty()) {
      cudaEvent_t e = free_.back();
      free_.pop_back();
      return e;
    }
  }
  OnDevice on(device_);
  cudaEvent_t e = nullptr;
  MOE_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
  return e;
}

void EventPool::release(cudaEvent_t e) {
  std::lock_guard<std::mutex> lock(mu_);
  free_.push_back(e);
}

PinnedStaging::PinnedStaging(int device, size_t bytes, EventPool* events)
    : device_(device), capacity_(round_up(bytes)), events_(events) {
  MOE_CHECK(capacity_ >= 2 * kAlign, "PinnedStaging: ", bytes, " bytes is too small a ring");
  void* p = nullptr;
  MOE_CUDA_CHECK(cudaMallocHost(&p, capacity_));
  ring_ = static_cast<unsigned char*>(p);
}

int64_t PinnedStaging::waits() const {
  std::lock_guard<std::mutex> lock(mu_);
  return waits_;
}

void PinnedStaging::retire_completed() {
  while (!in_flight_.empty() && completed(in_flight_.front().done)) {
    events_->release(in_flight_.front().done);
    in_flight_.pop_front();
  }
}

size_t PinnedStaging::reserve(size_t n) {
  retire_completed();
  if (head_ + n > capacity_) head_ = 0;
  const size_t begin = head_, end = begin + n;
  // Regions are handed out in ring order, so the transfers still reading
  // [begin, end) are the oldest ones: wait for them in order.
  for (auto it = in_flight_.begin(); it != in_flight_.end();) {
    if (it->begin < end && begin < it->end) {
      if (!completed(it->done)) {
        ++waits_;
        MOE_CUDA_CHECK(cudaEventSynchronize(it->done));
      }
      events_->release(it->done);
      it = in_flight_.erase(it);
    } else {
      ++it;
    }
  }
  head_ = end;
  return begin;
}

void PinnedStaging::upload(void* dst, const void* src, size_t bytes, cudaStream_t stream) {
  std::lock_guard<std::mutex> lock(mu_);
  OnDevice on(device_);
  const size_t chunk = capacity_ / 2;
  for (size_t done = 0; done < bytes;) {
    const size_t n = std::min(chunk, bytes - done);
    const size_t at = reserve(round_up(n));
    std::memcpy(ring_ + at, static_cast<const unsigned char*>(src) + done, n);
    MOE_CUDA_CHECK(cudaMemcpyAsync(static_cast<unsigned char*>(dst) + done, ring_ + at, n, cudaMemcpyHostToDevice,
                                   stream));
    cudaEvent_t e = events_->acquire();
    MOE_CUDA_CHECK(cudaEventRecord(e, stream));
    in_flight_.push_back({at, at + round_up(n), e});
    done += n;
  }
}

// One chunk at a time: a chunk's region must stay ours until the host has
// copied it out, and the caller waits for the data anyway.
void PinnedStaging::download(void* dst, const void* src, size_t bytes, cudaStream_t stream) {
  std::lock_guard<std::mutex> lock(mu_);
  OnDevice on(device_);
  const size_t chunk = capacity_ / 2;
  for (size_t done = 0; done < bytes;) {
    const size_t n = std::min(chunk, bytes - done);
    const size_t at = reserve(round_up(n));
    MOE_CUDA_CHECK(cudaMemcpyAsync(ring_ + at, static_cast<const unsigned char*>(src) + done, n,
                                   cudaMemcpyDeviceToHost, stream));
    MOE_CUDA_CHECK(cudaStreamSynchronize(stream));
    std::memcpy(static_cast<unsigned char*>(dst) + done, ring_ + at, n);
    done += n;
  }
}

DeviceContext::DeviceContext(int d) : device(d), events(d), staging(d, kStagingBytes, &events) {
  OnDevice on(d);
  MOE_CUDA_CHECK(cudaStreamCreateWithFlags(&compute, cudaStreamNonBlocking));
  MOE_CUDA_CHECK(cudaStreamCreateWithFlags(&comm, cudaStreamNonBlocking));
  MOE_CUDA_CHECK(cudaStreamCreateWithFlags(&copy, cudaStreamNonBlocking));
}

DeviceContext& device_context(int device) {
  static std::mutex mu;
  static auto* contexts = new std::vector<std::unique_ptr<DeviceContext>>();
  std::lock_guard<std::mutex> lock(mu);
  if (contexts->empty()) contexts->resize(size_t(cuda_device_count()));
  MOE_CHECK(device >= 0 && size_t(device) < contexts->size(), "cuda: device ", device, " does not exist (",
            contexts->size(), " CUDA devices)");
  auto& c = (*contexts)[size_t(device)];
  if (!c) c = std::make_unique<DeviceContext>(device);
  return *c;
}

cudaStream_t current_stream(int device) {
  for (auto it = t_overrides.rbegin(); it != t_overrides.rend(); ++it)
    if (it->device == device) return it->stream;
  // Contexts live for the process: a thread may keep the pointers.
  thread_local std::vector<DeviceContext*> known;
  if (device >= 0 && size_t(device) < known.size() && known[size_t(device)]) return known[size_t(device)]->compute;
  DeviceContext& c = device_context(device);
  if (known.size() <= size_t(device)) known.resize(size_t(device) + 1, nullptr);
  known[size_t(device)] = &c;
  return c.compute;
}

cudaStream_t current_stream() {
  int device = 0;
  MOE_CUDA_CHECK(cudaGetDevice(&device));
  return current_stream(device);
}

StreamScope::StreamScope(int device, cudaStream_t stream) : device_(device) {
  t_overrides.push_back({device_, stream});
}

StreamScope::~StreamScope() { t_overrides.pop_back(); }

void stream_wait(int device, cudaStream_t later, cudaStream_t earlier) {
  if (later == earlier) return;
  EventPool& pool = device_context(device).events;
  cudaEvent_t e = pool.acquire();
  MOE_CUDA_CHECK(cudaEventRecord(e, earlier));
  MOE_CUDA_CHECK(cudaStreamWaitEvent(later, e, 0));
  pool.release(e);  // the wait took the record as of now; reuse is safe
}

}  // namespace moe::cuda
