#include "core/cuda/context.h"
#include "core/cuda/streams.h"

#include <algorithm>
#include <cstring>
#include <memory>

#include "core/tensor.h"

namespace moe::cuda {

namespace {

// 2 x 8 MiB: a batch of 16k tokens' ids and targets is 256 KiB, a grouped
// GEMM's pointer arrays a few KiB; weights loaded from a checkpoint stream
// through in 8 MiB chunks.
constexpr size_t kStagingBytes = size_t(16) << 20;
constexpr size_t kAlign = 256;

size_t round_up(size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

// This thread's stream overrides, innermost last.
struct Override {
  int device;
  cudaStream_t stream;
};
thread_local std::vector<Override> t_overrides;

}  // namespace

DeviceGuard::DeviceGuard(int device) {
  MOE_CUDA_CHECK(cudaGetDevice(&previous_));
  if (previous_ != device) MOE_CUDA_CHECK(cudaSetDevice(device));
}
DeviceGuard::DeviceGuard(const Tensor& t) : DeviceGuard(t.device().index) {}
DeviceGuard::~DeviceGuard() {
  int now = -1;
  if (cudaGetDevice(&now) == cudaSuccess && now != previous_) (void)cudaSetDevice(previous_);
}

bool event_done(cudaEvent_t e) {
  const cudaError_t err = cudaEventQuery(e);
  if (err == cudaErrorNotReady) {
    (void)cudaGetLastError();
    return false;
  }
  MOE_CUDA_CHECK(err);
  return true;
}

cudaEvent_t EventPool::acquire() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!free_.empty()) {
      cudaEvent_t e = free_.back();
      free_.pop_back();
      return e;
    }
  }
  DeviceGuard on(device_);
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
  while (!in_flight_.empty() && event_done(in_flight_.front().done)) {
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
      if (!event_done(it->done)) {
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

// Calls f(offset, n, region) for each chunk of a `bytes` copy, with its
// region of the ring reserved; under the lock, the device current.
template <typename F>
void PinnedStaging::each_chunk(size_t bytes, F&& f) {
  std::lock_guard<std::mutex> lock(mu_);
  DeviceGuard on(device_);
  for (size_t done = 0; done < bytes;) {
    const size_t n = std::min(capacity_ / 2, bytes - done);
    f(done, n, reserve(round_up(n)));
    done += n;
  }
}

void PinnedStaging::upload(void* dst, const void* src, size_t bytes, cudaStream_t stream) {
  each_chunk(bytes, [&](size_t done, size_t n, size_t at) {
    std::memcpy(ring_ + at, static_cast<const unsigned char*>(src) + done, n);
    MOE_CUDA_CHECK(cudaMemcpyAsync(static_cast<unsigned char*>(dst) + done, ring_ + at, n, cudaMemcpyHostToDevice,
                                   stream));
    cudaEvent_t e = events_->acquire();
    MOE_CUDA_CHECK(cudaEventRecord(e, stream));
    in_flight_.push_back({at, at + round_up(n), e});
  });
}

// One chunk at a time: a chunk's region must stay ours until the host has
// copied it out, and the caller waits for the data anyway.
void PinnedStaging::download(void* dst, const void* src, size_t bytes, cudaStream_t stream) {
  each_chunk(bytes, [&](size_t done, size_t n, size_t at) {
    MOE_CUDA_CHECK(cudaMemcpyAsync(ring_ + at, static_cast<const unsigned char*>(src) + done, n,
                                   cudaMemcpyDeviceToHost, stream));
    MOE_CUDA_CHECK(cudaStreamSynchronize(stream));
    std::memcpy(static_cast<unsigned char*>(dst) + done, ring_ + at, n);
  });
}

DeviceContext::DeviceContext(int d) : device(d), events(d), staging(d, kStagingBytes, &events) {
  DeviceGuard on(d);
  MOE_CUDA_CHECK(cudaStreamCreateWithFlags(&compute, cudaStreamNonBlocking));
  MOE_CUDA_CHECK(cudaStreamCreateWithFlags(&comm, cudaStreamNonBlocking));
  MOE_CUDA_CHECK(cudaStreamCreateWithFlags(&copy, cudaStreamNonBlocking));
  side.resize(size_t(side_stream_count()));
  for (cudaStream_t& s : side) MOE_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
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

// Four: enough to fill an H100 with one expert's small GEMMs each, few
// enough that their outputs' memory stays bounded.
int side_stream_count() { return 4; }

void fork_side_streams(int device, int n) {
  DeviceContext& c = device_context(device);
  MOE_CHECK(n >= 0 && size_t(n) <= c.side.size(), "fork_side_streams: ", n, " of ", c.side.size(), " streams");
  const cudaStream_t now = current_stream(device);
  for (int i = 0; i < n; ++i) stream_wait(device, c.side[size_t(i)], now);
}

void run_on_side_stream(int device, int i, const std::function<void()>& fn) {
  DeviceContext& c = device_context(device);
  MOE_CHECK(i >= 0 && size_t(i) < c.side.size(), "run_on_side_stream: no side stream ", i);
  StreamScope on(device, c.side[size_t(i)]);
  fn();
}

void join_side_streams(int device, int n) {
  DeviceContext& c = device_context(device);
  const cudaStream_t now = current_stream(device);
  for (int i = 0; i < n && size_t(i) < c.side.size(); ++i) stream_wait(device, now, c.side[size_t(i)]);
}

void stream_wait(int device, cudaStream_t later, cudaStream_t earlier) {
  if (later == earlier) return;
  EventPool& pool = device_context(device).events;
  cudaEvent_t e = pool.acquire();
  MOE_CUDA_CHECK(cudaEventRecord(e, earlier));
  MOE_CUDA_CHECK(cudaStreamWaitEvent(later, e, 0));
  pool.release(e);  // the wait took the record as of now; reuse is safe
}

}  // namespace moe::cuda
