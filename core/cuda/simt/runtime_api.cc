// The CUDA runtime subset of the SIMT shim: errors, "device" memory (host
// memory, tracked), streams with a host thread each, events.
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/cuda/simt/internal.h"

// A created stream: a FIFO of work run by its own host thread, so streams run
// concurrently with each other and with the host, as on a GPU.
struct CUstream_st {
  const unsigned flags;
  std::mutex mu;
  std::condition_variable cv;  // work queued, or the queue drained
  std::deque<std::function<void()>> queue;
  bool busy = false, closing = false;
  std::thread worker;  // last: starts once the rest is built

  explicit CUstream_st(unsigned f) : flags(f), worker([this] { run(); }) {}

  void enqueue(std::function<void()> work) {
    {
      std::lock_guard lk(mu);
      queue.push_back(std::move(work));
    }
    cv.notify_all();
  }
  void drain() {
    std::unique_lock lk(mu);
    cv.wait(lk, [&] { return queue.empty() && !busy; });
  }
  bool idle() {
    std::lock_guard lk(mu);
    return queue.empty() && !busy;
  }
  // Runs what is queued, then ends the thread.
  void close() {
    {
      std::lock_guard lk(mu);
      closing = true;
    }
    cv.notify_all();
    worker.join();
  }

 private:
  void run() {
    std::unique_lock lk(mu);
    for (;;) {
      cv.wait(lk, [&] { return !queue.empty() || closing; });
      if (queue.empty()) return;
      std::function<void()> work = std::move(queue.front());
      queue.pop_front();
      busy = true;
      lk.unlock();
      work();
      work = nullptr;  // its captures die outside the lock
      lk.lock();
      busy = false;
      if (queue.empty()) cv.notify_all();
    }
  }
};

// Each record of an event completes when its stream reaches it. Records of
// one event on different streams may complete out of order, and a wait is
// for its own record (as on a GPU): an event reused from a pool right after
// a wait was queued must not release that wait early.
struct CUevent_st {
  const unsigned flags;
  std::mutex mu;
  std::condition_variable cv;
  uint64_t recorded = 0;
  std::set<uint64_t> open;  // records not yet reached
  std::chrono::steady_clock::time_point when{};  // of the latest record, once reached

  explicit CUevent_st(unsigned f) : flags(f) {}
  // Under mu.
  uint64_t record_now() {
    open.insert(++recorded);
    return recorded;
  }
  bool done(uint64_t record) const { return open.count(record) == 0; }
  void complete(uint64_t record) {
    {
      std::lock_guard lk(mu);
      open.erase(record);
      if (record == recorded) when = std::chrono::steady_clock::now();
    }
    cv.notify_all();
  }
  void wait(uint64_t record) {
    std::unique_lock lk(mu);
    cv.wait(lk, [&] { return done(record); });
  }
};

namespace moe::simt {
namespace {

// ---- Errors ------------------------------------------------------------------
// The last error is per host thread, as in CUDA. A kernel fault is not sticky
// (CUDA's would poison the context), so tests can go on after one.
struct ThreadError {
  cudaError_t last = cudaSuccess;
  cudaError_t detail_code = cudaSuccess;
  std::string detail;
};
thread_local ThreadError t_err;

std::mutex g_fault_mu;
cudaError_t g_fault = cudaSuccess;
std::string g_fault_detail;

cudaError_t take_fault() {
  std::lock_guard lk(g_fault_mu);
  const cudaError_t e = g_fault;
  if (e == cudaSuccess) return e;
  g_fault = cudaSuccess;
  return internal::fail(e, std::move(g_fault_detail));
}

// ---- Handles and memory ----------------------------------------------------------
enum class Mem { kPageable, kDevice, kPinned };

struct Registry {
  std::mutex mu;
  std::map<uintptr_t, size_t> device, pinned;  // allocation start -> bytes
  size_t device_used = 0;
  size_t device_limit = size_t(16) << 30;
  std::unordered_map<CUstream_st*, std::shared_ptr<CUstream_st>> streams;
  std::unordered_map<CUevent_st*, std::shared_ptr<CUevent_st>> events;
  std::unordered_map<const void*, int> max_dynamic_smem;
};
Registry& reg() {
  static Registry* r = new Registry;  // never destroyed: used until exit
  return *r;
}

// Which memory [p, p+n) is in; false when it starts inside an allocation and
// runs past its end.
bool locate(const void* p, size_t n, Mem* kind) {
  const uintptr_t u = reinterpret_cast<uintptr_t>(p);
  std::lock_guard lk(reg().mu);
  for (auto [map, k] : {std::pair{&reg().device, Mem::kDevice}, std::pair{&reg().pinned, Mem::kPinned}}) {
    auto it = map->upper_bound(u);
    if (it == map->begin()) continue;
    --it;
    if (u < it->first + it->second) {
      *kind = k;
      return u + n <= it->first + it->second;
    }
  }
  *kind = Mem::kPageable;
  return true;
}

std::shared_ptr<CUstream_st> find_stream(cudaStream_t s) {
  std::lock_guard lk(reg().mu);
  auto it = reg().streams.find(s);
  return it == reg().streams.end() ? nullptr : it->second;
}
std::shared_ptr<CUevent_st> find_event(cudaEvent_t e) {
  std::lock_guard lk(reg().mu);
  auto it = reg().events.find(e);
  return it == reg().events.end() ? nullptr : it->second;
}
// Waits for the queued work of every created stream (or only the blocking ones).
void drain_streams(bool blocking_only) {
  std::vector<std::shared_ptr<CUstream_st>> all;
  {
    std::lock_guard lk(reg().mu);
    for (auto& [p, s] : reg().streams)
      if (!blocking_only || !(s->flags & cudaStreamNonBlocking)) all.push_back(s);
  }
  for (auto& s : all) s->drain();
}

// A stream argument: a created stream, the legacy default stream, or the
// per-thread default stream (neither of the last two has a queue).
struct Target {
  bool valid = true, legacy = false;
  std::shared_ptr<CUstream_st> stream;
};
Target resolve(cudaStream_t s) {
  if (s == nullptr || s == cudaStreamLegacy) return {true, true, nullptr};
  if (s == cudaStreamPerThread) return {true, false, nullptr};
  auto p = find_stream(s);
  return {p != nullptr, false, p};
}
// Waits until the work submitted to `t` so far has run.
void wait_for(const Target& t) {
  if (t.stream) t.stream->drain();
  else if (t.legacy) drain_streams(true);
}

cudaError_t bad_stream(const char* what, cudaStream_t s) {
  return internal::fail(cudaErrorInvalidResourceHandle, internal::fmt("%s: unknown stream %p", what, (void*)s));
}

cudaError_t check_range(const char* what, const void* p, size_t n, Mem* kind) {
  if (n > 0 && p == nullptr) return internal::fail(cudaErrorInvalidValue, internal::fmt("%s of %zu bytes at a null pointer", what, n));
  if (!locate(p, n, kind))
    return internal::fail(cudaErrorInvalidValue,
                          internal::fmt("%s: %zu bytes at %p run past the end of their allocation", what, n, p));
  return cudaSuccess;
}

}  // namespace

namespace internal {
std::string fmt(const char* f, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, f);
  std::vsnprintf(buf, sizeof buf, f, ap);
  va_end(ap);
  return buf;
}
cudaError_t fail(cudaError_t e, std::string detail) {
  t_err.last = e;
  t_err.detail_code = e;
  t_err.detail = std::move(detail);
  return e;
}
void report_fault(std::string detail) {
  std::fprintf(stderr, "%s\n", detail.c_str());
  std::lock_guard lk(g_fault_mu);
  g_fault = cudaErrorLaunchFailure;
  g_fault_detail = std::move(detail);
}
cudaError_t submit(cudaStream_t s, const char* what, std::function<void()> work) {
  const Target t = resolve(s);
  if (!t.valid) return bad_stream(what, s);
  if (t.stream) {
    t.stream->enqueue(std::move(work));
    return cudaSuccess;
  }
  wait_for(t);
  work();
  return cudaSuccess;
}
int max_dynamic_smem(const void* func) {
  std::lock_guard lk(reg().mu);
  auto it = reg().max_dynamic_smem.find(func);
  return it == reg().max_dynamic_smem.end() ? 48 << 10 : it->second;
}
}  // namespace internal

const char* error_detail(cudaError_t err) {
  return err != cudaSuccess && t_err.detail_code == err ? t_err.detail.c_str() : "";
}
void set_device_memory_limit(size_t bytes) {
  std::lock_guard lk(reg().mu);
  reg().device_limit = bytes;
}

}  // namespace moe::simt

using moe::simt::internal::fail;
using moe::simt::internal::fmt;
namespace sim = moe::simt;

// ---- Device and errors --------------------------------------------------------
cudaError_t cudaGetDeviceCount(int* count) {
  if (!count) return fail(cudaErrorInvalidValue);
  *count = 1;
  return cudaSuccess;
}
cudaError_t cudaGetDevice(int* device) {
  if (!device) return fail(cudaErrorInvalidValue);
  *device = 0;
  return cudaSuccess;
}
cudaError_t cudaSetDevice(int device) {
  return device == 0 ? cudaSuccess : fail(cudaErrorInvalidDevice, fmt("device %d; the SIM has device 0 only", device));
}
cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device) {
  if (!value) return fail(cudaErrorInvalidValue);
  if (device != 0) return fail(cudaErrorInvalidDevice, fmt("device %d; the SIM has device 0 only", device));
  switch (attr) {
    case cudaDevAttrMaxThreadsPerBlock: *value = 1024; break;
    case cudaDevAttrMaxBlockDimX: case cudaDevAttrMaxBlockDimY: *value = 1024; break;
    case cudaDevAttrMaxBlockDimZ: *value = 64; break;
    case cudaDevAttrMaxGridDimX: *value = 2147483647; break;
    case cudaDevAttrMaxGridDimY: case cudaDevAttrMaxGridDimZ: *value = 65535; break;
    case cudaDevAttrMaxSharedMemoryPerBlock: *value = 48 << 10; break;
    case cudaDevAttrWarpSize: *value = 32; break;
    // The host's cores: grids sized from the SM count stay small in the SIM.
    case cudaDevAttrMultiProcessorCount: *value = int(std::max(1u, std::thread::hardware_concurrency())); break;
    case cudaDevAttrComputeCapabilityMajor: *value = 9; break;
    case cudaDevAttrComputeCapabilityMinor: *value = 0; break;
    case cudaDevAttrMaxSharedMemoryPerBlockOptin: *value = 232448; break;
    default: return fail(cudaErrorInvalidValue, fmt("cudaDeviceGetAttribute: attribute %d not in the SIM", int(attr)));
  }
  return cudaSuccess;
}
cudaError_t cudaDeviceSynchronize() {
  sim::drain_streams(false);
  return sim::take_fault();
}

cudaError_t cudaGetLastError() {
  if (const cudaError_t fault = sim::take_fault()) {
    sim::t_err.last = cudaSuccess;
    return fault;
  }
  const cudaError_t e = sim::t_err.last;
  sim::t_err.last = cudaSuccess;
  return e;
}
cudaError_t cudaPeekAtLastError() {
  {
    std::lock_guard lk(sim::g_fault_mu);
    if (sim::g_fault != cudaSuccess) return sim::g_fault;
  }
  return sim::t_err.last;
}

const char* cudaGetErrorName(cudaError_t e) {
  switch (e) {
#define MOE_SIMT_NAME(x) case x: return #x;
    MOE_SIMT_NAME(cudaSuccess)
    MOE_SIMT_NAME(cudaErrorInvalidValue)
    MOE_SIMT_NAME(cudaErrorMemoryAllocation)
    MOE_SIMT_NAME(cudaErrorInitializationError)
    MOE_SIMT_NAME(cudaErrorInvalidConfiguration)
    MOE_SIMT_NAME(cudaErrorInvalidDevicePointer)
    MOE_SIMT_NAME(cudaErrorInvalidMemcpyDirection)
    MOE_SIMT_NAME(cudaErrorInvalidDeviceFunction)
    MOE_SIMT_NAME(cudaErrorNoDevice)
    MOE_SIMT_NAME(cudaErrorInvalidDevice)
    MOE_SIMT_NAME(cudaErrorInvalidResourceHandle)
    MOE_SIMT_NAME(cudaErrorNotReady)
    MOE_SIMT_NAME(cudaErrorLaunchFailure)
    MOE_SIMT_NAME(cudaErrorUnknown)
#undef MOE_SIMT_NAME
  }
  return "cudaErrorUnrecognized";
}
const char* cudaGetErrorString(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInitializationError: return "initialization error";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInvalidDevicePointer: return "invalid device pointer";
    case cudaErrorInvalidMemcpyDirection: return "invalid copy direction for memcpy";
    case cudaErrorInvalidDeviceFunction: return "invalid device function";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorInvalidResourceHandle: return "invalid resource handle";
    case cudaErrorNotReady: return "device not ready";
    case cudaErrorLaunchFailure: return "unspecified launch failure";
    case cudaErrorUnknown: return "unknown error";
  }
  return "unrecognized error code";
}

// ---- Memory ------------------------------------------------------------------------
cudaError_t cudaMalloc(void** ptr, size_t bytes) {
  if (!ptr) return fail(cudaErrorInvalidValue, "cudaMalloc: null result pointer");
  *ptr = nullptr;
  if (bytes == 0) return cudaSuccess;
  std::lock_guard lk(sim::reg().mu);
  auto& r = sim::reg();
  if (bytes > r.device_limit - std::min(r.device_used, r.device_limit))
    return fail(cudaErrorMemoryAllocation,
                fmt("cudaMalloc of %zu bytes: %zu of %zu in use", bytes, r.device_used, r.device_limit));
  void* p = nullptr;
  if (posix_memalign(&p, 256, bytes) != 0) return fail(cudaErrorMemoryAllocation, fmt("cudaMalloc of %zu bytes", bytes));
  r.device[reinterpret_cast<uintptr_t>(p)] = bytes;
  r.device_used += bytes;
  *ptr = p;
  return cudaSuccess;
}
cudaError_t cudaFree(void* ptr) {
  if (!ptr) return cudaSuccess;
  sim::drain_streams(false);  // cudaFree synchronises the device
  std::lock_guard lk(sim::reg().mu);
  auto& r = sim::reg();
  auto it = r.device.find(reinterpret_cast<uintptr_t>(ptr));
  if (it == r.device.end()) return fail(cudaErrorInvalidValue, fmt("cudaFree(%p): not a live cudaMalloc pointer", ptr));
  r.device_used -= it->second;
  r.device.erase(it);
  std::free(ptr);
  return cudaSuccess;
}
cudaError_t cudaMallocHost(void** ptr, size_t bytes) {
  if (!ptr) return fail(cudaErrorInvalidValue);
  if (posix_memalign(ptr, 256, std::max<size_t>(bytes, 1)) != 0) return fail(cudaErrorMemoryAllocation);
  std::lock_guard lk(sim::reg().mu);
  sim::reg().pinned[reinterpret_cast<uintptr_t>(*ptr)] = std::max<size_t>(bytes, 1);
  return cudaSuccess;
}
cudaError_t cudaFreeHost(void* ptr) {
  if (!ptr) return cudaSuccess;
  sim::drain_streams(false);
  std::lock_guard lk(sim::reg().mu);
  if (!sim::reg().pinned.erase(reinterpret_cast<uintptr_t>(ptr)))
    return fail(cudaErrorInvalidValue, fmt("cudaFreeHost(%p): not a live cudaMallocHost pointer", ptr));
  std::free(ptr);
  return cudaSuccess;
}
cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total_bytes) {
  if (!free_bytes || !total_bytes) return fail(cudaErrorInvalidValue);
  std::lock_guard lk(sim::reg().mu);
  *total_bytes = sim::reg().device_limit;
  *free_bytes = sim::reg().device_limit - std::min(sim::reg().device_used, sim::reg().device_limit);
  return cudaSuccess;
}

namespace {
cudaError_t check_copy(const char* what, void* dst, const void* src, size_t bytes, cudaMemcpyKind kind,
                       sim::Mem* dst_kind, sim::Mem* src_kind) {
  if (int(kind) < 0 || int(kind) > 4) return fail(cudaErrorInvalidMemcpyDirection, fmt("%s: kind %d", what, int(kind)));
  if (cudaError_t e = sim::check_range(what, dst, bytes, dst_kind)) return e;
  return sim::check_range(what, src, bytes, src_kind);
}
cudaError_t check_memset(const char* what, void* ptr, size_t bytes) {
  sim::Mem kind;
  if (cudaError_t e = sim::check_range(what, ptr, bytes, &kind)) return e;
  if (bytes > 0 && kind != sim::Mem::kDevice) return fail(cudaErrorInvalidValue, fmt("%s(%p): not device memory", what, ptr));
  return cudaSuccess;
}
}  // namespace

// A synchronous copy or set is work of the legacy default stream.
cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind) {
  sim::Mem dk, sk;
  if (cudaError_t e = check_copy("cudaMemcpy", dst, src, bytes, kind, &dk, &sk)) return e;
  sim::drain_streams(true);
  if (cudaError_t e = sim::take_fault()) return e;  // a synchronising call reports an earlier kernel's fault
  if (bytes) std::memcpy(dst, src, bytes);
  return cudaSuccess;
}
// Pageable host memory makes the copy synchronous, as in CUDA (the stream's
// earlier work first); device and pinned memory are copied in stream order.
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, cudaStream_t stream) {
  sim::Mem dk, sk;
  if (cudaError_t e = check_copy("cudaMemcpyAsync", dst, src, bytes, kind, &dk, &sk)) return e;
  if (bytes == 0) return cudaSuccess;
  const sim::Target t = sim::resolve(stream);
  if (!t.valid) return sim::bad_stream("cudaMemcpyAsync", stream);
  if (dk == sim::Mem::kPageable || sk == sim::Mem::kPageable) {
    sim::wait_for(t);
    std::memcpy(dst, src, bytes);
    return cudaSuccess;
  }
  return moe::simt::internal::submit(stream, "cudaMemcpyAsync", [=] { std::memcpy(dst, src, bytes); });
}
cudaError_t cudaMemset(void* ptr, int value, size_t bytes) {
  if (cudaError_t e = check_memset("cudaMemset", ptr, bytes)) return e;
  sim::drain_streams(true);
  if (cudaError_t e = sim::take_fault()) return e;
  if (bytes) std::memset(ptr, value, bytes);
  return cudaSuccess;
}
cudaError_t cudaMemsetAsync(void* ptr, int value, size_t bytes, cudaStream_t stream) {
  if (cudaError_t e = check_memset("cudaMemsetAsync", ptr, bytes)) return e;
  return moe::simt::internal::submit(stream, "cudaMemsetAsync", [=] { std::memset(ptr, value, bytes); });
}

// ---- Streams ----------------------------------------------------------------------
cudaError_t cudaStreamCreate(cudaStream_t* stream) { return cudaStreamCreateWithFlags(stream, cudaStreamDefault); }
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned flags) {
  if (!stream || (flags & ~unsigned(cudaStreamNonBlocking))) return fail(cudaErrorInvalidValue);
  auto s = std::make_shared<CUstream_st>(flags);
  std::lock_guard lk(sim::reg().mu);
  sim::reg().streams[s.get()] = s;
  *stream = s.get();
  return cudaSuccess;
}
// Returns once the stream's queued work has run (CUDA returns at once).
cudaError_t cudaStreamDestroy(cudaStream_t stream) {
  std::shared_ptr<CUstream_st> s;
  {
    std::lock_guard lk(sim::reg().mu);
    auto it = sim::reg().streams.find(stream);
    if (it == sim::reg().streams.end())
      return fail(cudaErrorInvalidResourceHandle, fmt("cudaStreamDestroy(%p): not a live stream", (void*)stream));
    s = std::move(it->second);
    sim::reg().streams.erase(it);
  }
  s->close();
  return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
  const sim::Target t = sim::resolve(stream);
  if (!t.valid) return sim::bad_stream("cudaStreamSynchronize", stream);
  if (t.stream) t.stream->drain();
  return sim::take_fault();
}
cudaError_t cudaStreamQuery(cudaStream_t stream) {
  const sim::Target t = sim::resolve(stream);
  if (!t.valid) return sim::bad_stream("cudaStreamQuery", stream);
  return !t.stream || t.stream->idle() ? cudaSuccess : cudaErrorNotReady;
}
cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t event, unsigned flags) {
  if (flags != 0) return fail(cudaErrorInvalidValue);
  auto e = sim::find_event(event);
  if (!e) return fail(cudaErrorInvalidResourceHandle, fmt("cudaStreamWaitEvent: unknown event %p", (void*)event));
  uint64_t record;
  {
    std::lock_guard lk(e->mu);
    record = e->recorded;  // the latest record at the time of the call
  }
  return moe::simt::internal::submit(stream, "cudaStreamWaitEvent", [e, record] { e->wait(record); });
}
cudaError_t cudaLaunchHostFunc(cudaStream_t stream, cudaHostFn_t fn, void* user_data) {
  if (!fn) return fail(cudaErrorInvalidValue, "cudaLaunchHostFunc: null function");
  return moe::simt::internal::submit(stream, "cudaLaunchHostFunc", [fn, user_data] { fn(user_data); });
}

// ---- Events -------------------------------------------------------------------------
cudaError_t cudaEventCreate(cudaEvent_t* event) { return cudaEventCreateWithFlags(event, cudaEventDefault); }
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* event, unsigned flags) {
  if (!event || (flags & ~unsigned(cudaEventBlockingSync | cudaEventDisableTiming))) return fail(cudaErrorInvalidValue);
  auto e = std::make_shared<CUevent_st>(flags);
  std::lock_guard lk(sim::reg().mu);
  sim::reg().events[e.get()] = e;
  *event = e.get();
  return cudaSuccess;
}
// Work still waiting on the event keeps it alive.
cudaError_t cudaEventDestroy(cudaEvent_t event) {
  std::lock_guard lk(sim::reg().mu);
  if (!sim::reg().events.erase(event))
    return fail(cudaErrorInvalidResourceHandle, fmt("cudaEventDestroy(%p): not a live event", (void*)event));
  return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream) {
  auto e = sim::find_event(event);
  if (!e) return fail(cudaErrorInvalidResourceHandle, fmt("cudaEventRecord: unknown event %p", (void*)event));
  if (!sim::resolve(stream).valid) return sim::bad_stream("cudaEventRecord", stream);
  uint64_t record;
  {
    std::lock_guard lk(e->mu);
    record = e->record_now();
  }
  return moe::simt::internal::submit(stream, "cudaEventRecord", [e, record] { e->complete(record); });
}
cudaError_t cudaEventSynchronize(cudaEvent_t event) {
  auto e = sim::find_event(event);
  if (!e) return fail(cudaErrorInvalidResourceHandle, fmt("cudaEventSynchronize: unknown event %p", (void*)event));
  uint64_t record;
  {
    std::lock_guard lk(e->mu);
    record = e->recorded;
  }
  e->wait(record);
  return sim::take_fault();
}
cudaError_t cudaEventQuery(cudaEvent_t event) {
  auto e = sim::find_event(event);
  if (!e) return fail(cudaErrorInvalidResourceHandle, fmt("cudaEventQuery: unknown event %p", (void*)event));
  std::lock_guard lk(e->mu);
  return e->done(e->recorded) ? cudaSuccess : cudaErrorNotReady;  // "not ready" is no error
}
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end) {
  if (!ms) return fail(cudaErrorInvalidValue);
  auto a = sim::find_event(start), b = sim::find_event(end);
  if (!a || !b) return fail(cudaErrorInvalidResourceHandle, "cudaEventElapsedTime: unknown event");
  if ((a->flags | b->flags) & cudaEventDisableTiming)
    return fail(cudaErrorInvalidResourceHandle, "cudaEventElapsedTime: an event was created with cudaEventDisableTiming");
  std::unique_lock la(a->mu, std::defer_lock), lb(b->mu, std::defer_lock);
  if (a == b) la.lock();
  else std::lock(la, lb);
  if (a->recorded == 0 || b->recorded == 0)
    return fail(cudaErrorInvalidResourceHandle, "cudaEventElapsedTime: an event was never recorded");
  if (!a->done(a->recorded) || !b->done(b->recorded)) return cudaErrorNotReady;
  *ms = std::chrono::duration<float, std::milli>(b->when - a->when).count();
  return cudaSuccess;
}

cudaError_t cudaFuncSetAttribute(const void* func, cudaFuncAttribute attr, int value) {
  if (!func) return fail(cudaErrorInvalidDeviceFunction);
  if (attr != cudaFuncAttributeMaxDynamicSharedMemorySize)
    return fail(cudaErrorInvalidValue, fmt("cudaFuncSetAttribute: attribute %d not in the SIM", int(attr)));
  if (value < 0 || value > 232448)
    return fail(cudaErrorInvalidValue,
                fmt("cudaFuncSetAttribute: %d bytes of dynamic shared memory (at most 232448)", value));
  std::lock_guard lk(sim::reg().mu);
  sim::reg().max_dynamic_smem[func] = value;
  return cudaSuccess;
}
