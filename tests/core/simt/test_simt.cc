// The SIMT host shim (core/cuda/simt/): kernels of kernels.cu run on it and are
// checked against CPU references; mask errors, faults and bad launch
// configurations give the errors CUDA would, with a message saying what.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "tests/core/simt/kernels.h"

namespace moe::simt_test {
namespace {

template <typename T>
struct DeviceVec {
  T* ptr = nullptr;
  size_t n = 0;
  explicit DeviceVec(size_t count, int fill_byte = 0) : n(count) {
    EXPECT_EQ(cudaMalloc(reinterpret_cast<void**>(&ptr), n * sizeof(T)), cudaSuccess);
    EXPECT_EQ(cudaMemset(ptr, fill_byte, n * sizeof(T)), cudaSuccess);
  }
  explicit DeviceVec(const std::vector<T>& h) : DeviceVec(h.size()) {
    EXPECT_EQ(cudaMemcpy(ptr, h.data(), n * sizeof(T), cudaMemcpyHostToDevice), cudaSuccess);
  }
  ~DeviceVec() { cudaFree(ptr); }
  DeviceVec(const DeviceVec&) = delete;
  DeviceVec& operator=(const DeviceVec&) = delete;
  std::vector<T> host() const {
    std::vector<T> h(n);
    EXPECT_EQ(cudaMemcpy(h.data(), ptr, n * sizeof(T), cudaMemcpyDeviceToHost), cudaSuccess);
    return h;
  }
};

void expect_ok() {
  ASSERT_EQ(cudaGetLastError(), cudaSuccess) << moe::simt::error_detail(cudaErrorLaunchFailure);
}
// The launch just made faulted: returns the message, leaving no error behind.
std::string take_fault() {
  EXPECT_EQ(cudaGetLastError(), cudaErrorLaunchFailure);
  const std::string detail = moe::simt::error_detail(cudaErrorLaunchFailure);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
  EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  return detail;
}
#define EXPECT_HAS(text, part) EXPECT_NE(std::string(text).find(part), std::string::npos) << "in: " << (text)

TEST(Simt, BlockReductionEqualsCpuSum) {
  std::mt19937_64 rng(7);
  for (int64_t n : {int64_t(5), int64_t(100003)}) {
    std::vector<long long> in(n);
    long long want = 0;
    for (auto& v : in) {
      v = (long long)(rng() % 2000000000001ull) - 1000000000000ll;
      want += v;
    }
    const int blocks = 7;
    DeviceVec<long long> d_in(in), d_partial(blocks);
    block_sum(d_in.ptr, d_partial.ptr, n, blocks);
    expect_ok();
    long long got = 0;
    for (long long p : d_partial.host()) got += p;
    EXPECT_EQ(got, want) << "n " << n;
  }
}

TEST(Simt, BlockOf1024Threads) {
  std::vector<int> in(1024);
  int want = 0;
  for (int i = 0; i < 1024; ++i) want += (in[i] = i * 3 - 700);
  DeviceVec<int> d_in(in), d_out(1);
  block_sum_1024(d_in.ptr, d_out.ptr);
  expect_ok();
  EXPECT_EQ(d_out.host()[0], want);
}

TEST(Simt, WarpShuffles) {
  const int n = 320, threads = 64;
  std::mt19937 rng(3);
  std::vector<int> in(n);
  for (int& v : in) v = int(rng() % 2001) - 1000;
  DeviceVec<int> d_in(in), d_xor(n), d_down(n), d_up(n), d_b8(n), d_up1(n), d_down8(n);
  warp_shuffles(d_in.ptr, d_xor.ptr, d_down.ptr, d_up.ptr, d_b8.ptr, d_up1.ptr, d_down8.ptr, n, threads);
  expect_ok();
  const auto xs = d_xor.host(), ds = d_down.host(), us = d_up.host(), bs = d_b8.host();
  const auto u1 = d_up1.host(), d8 = d_down8.host();
  for (int w = 0; w < n / 32; ++w) {
    int sum = 0;
    for (int l = 0; l < 32; ++l) {
      const int i = w * 32 + l;
      sum += in[i];
      EXPECT_EQ(us[i], sum) << "inclusive scan at " << i;
      EXPECT_EQ(bs[i], in[i / 8 * 8 + 3]) << "width-8 broadcast at " << i;
      EXPECT_EQ(u1[i], l == 0 ? in[i] : in[i - 1]) << "shfl_up by 1 at " << i;
      EXPECT_EQ(d8[i], l % 8 + 3 >= 8 ? in[i] : in[i + 3]) << "width-8 shfl_down by 3 at " << i;
    }
    for (int l = 0; l < 32; ++l) EXPECT_EQ(xs[w * 32 + l], sum) << "butterfly sum, warp " << w << " lane " << l;
    EXPECT_EQ(ds[w * 32], sum) << "shfl_down tree, warp " << w;
  }
}

TEST(Simt, BallotAnyAllAndBlockCounts) {
  const int threads = 48, blocks = 3, warps = 2;  // the second warp of each block has 16 lanes
  std::mt19937 rng(11);
  std::vector<int> in(threads * blocks);
  for (int i = 0; i < threads; ++i) in[i] = int(rng() % 3) - 1;     // block 0: mixed
  for (int i = threads; i < 2 * threads; ++i) in[i] = 1;           // block 1: all true
  for (int i = 2 * threads; i < 3 * threads; ++i) in[i] = -int(i % 2);  // block 2: all false
  DeviceVec<unsigned> d_ballot(blocks * warps);
  DeviceVec<int> d_in(in), d_any(blocks * warps), d_all(blocks * warps), d_cnt(blocks), d_and(blocks), d_or(blocks);
  warp_votes(d_in.ptr, d_ballot.ptr, d_any.ptr, d_all.ptr, d_cnt.ptr, d_and.ptr, d_or.ptr, blocks, threads);
  expect_ok();
  const auto ballot = d_ballot.host();
  const auto any = d_any.host(), all = d_all.host();
  const auto cnt = d_cnt.host(), band = d_and.host(), bor = d_or.host();
  for (int b = 0; b < blocks; ++b) {
    int count = 0;
    for (int w = 0; w < warps; ++w) {
      unsigned want = 0;
      const int lanes = std::min(32, threads - w * 32);
      for (int l = 0; l < lanes; ++l)
        if (in[b * threads + w * 32 + l] > 0) want |= 1u << l;
      const int k = b * warps + w;
      EXPECT_EQ(ballot[k], want) << "block " << b << " warp " << w;
      EXPECT_EQ(any[k], want != 0) << "block " << b << " warp " << w;
      EXPECT_EQ(all[k], want == (lanes == 32 ? ~0u : (1u << lanes) - 1)) << "block " << b << " warp " << w;
      count += __builtin_popcount(want);
    }
    EXPECT_EQ(cnt[b], count) << "block " << b;
    EXPECT_EQ(band[b], count == threads) << "block " << b;
    EXPECT_EQ(bor[b], count > 0) << "block " << b;
  }
}

TEST(Simt, WarpReduceAndMatch) {
  std::vector<unsigned> u(32);
  std::vector<int> s(32);
  unsigned sum = 0;
  int mx = -1000000;
  for (int l = 0; l < 32; ++l) {
    u[l] = unsigned(l % 5) * 0x10000001u;  // wraps: the sum is mod 2^32
    s[l] = (l * 37) % 23 - 11;
    sum += u[l];
    mx = std::max(mx, s[l]);
  }
  DeviceVec<unsigned> d_u(u), d_add(32), d_match(32);
  DeviceVec<int> d_s(s), d_max(32);
  warp_reduce_match(d_u.ptr, d_s.ptr, d_add.ptr, d_max.ptr, d_match.ptr);
  expect_ok();
  const auto add = d_add.host(), match = d_match.host();
  const auto mxs = d_max.host();
  for (int l = 0; l < 32; ++l) {
    unsigned want_match = 0;
    for (int k = 0; k < 32; ++k)
      if (u[k] == u[l]) want_match |= 1u << k;
    EXPECT_EQ(add[l], sum);
    EXPECT_EQ(mxs[l], mx);
    EXPECT_EQ(match[l], want_match) << "lane " << l;
  }
}

TEST(Simt, MaskNamingAnExitedLaneIsAnError) {
  DeviceVec<int> out(32);
  diverged_exit(out.ptr);
  const std::string d = take_fault();
  EXPECT_HAS(d, "kernel diverged_exit_kernel");
  EXPECT_HAS(d, "__shfl_xor_sync(mask 0xffffffff)");
  EXPECT_HAS(d, "exited");
}

TEST(Simt, MaskNamingALaneAtABarrierIsADeadlock) {
  DeviceVec<int> out(32);
  diverged_barrier(out.ptr);
  const std::string d = take_fault();
  EXPECT_HAS(d, "deadlock");
  EXPECT_HAS(d, "lanes 0-15 wait in __shfl_xor_sync(mask 0xffffffff) for lane(s) 16-31 (at __syncthreads)");
}

TEST(Simt, MismatchedMasksAreADeadlock) {
  DeviceVec<int> out(32);
  mismatched_mask(out.ptr);
  const std::string d = take_fault();
  EXPECT_HAS(d, "deadlock");
  EXPECT_HAS(d, "lanes 3 wait in __shfl_xor_sync(mask 0x0000ffff)");
  EXPECT_HAS(d, "a different mask or intrinsic");
}

TEST(Simt, MaskWithoutTheCallingLaneIsAnError) {
  DeviceVec<int> out(32);
  mask_without_self(out.ptr);
  EXPECT_HAS(take_fault(), "mask 0xfffffffe, which does not name the calling lane 0");
}

TEST(Simt, TrapAbortsTheKernel) {
  DeviceVec<int> out(64);
  trap_in_lane(out.ptr, 37);
  const std::string d = take_fault();
  EXPECT_HAS(d, "thread (37,0,0)");
  EXPECT_HAS(d, "__trap()");
  for (int v : out.host()) EXPECT_EQ(v, 0);  // the threads at the barrier never went on
}

__global__ void throwing_kernel(int* out) {
  if (threadIdx.x == 2) throw std::runtime_error("boom");
  __syncthreads();
  out[threadIdx.x] = 1;
}

TEST(Simt, ExceptionInAKernelIsAFault) {
  DeviceVec<int> out(8);
  MOE_LAUNCH(throwing_kernel, 1, 8, 0, nullptr)(out.ptr);
  EXPECT_HAS(take_fault(), "exception thrown: boom");
}

TEST(Simt, FaultIsReportedOnceBySynchronize) {
  DeviceVec<int> out(64);
  trap_in_lane(out.ptr, 0);
  EXPECT_EQ(cudaDeviceSynchronize(), cudaErrorLaunchFailure);
  EXPECT_EQ(cudaGetLastError(), cudaErrorLaunchFailure);  // the synchronise's error, as in CUDA
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
  EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  // The next kernel runs normally.
  trap_in_lane(out.ptr, 1000);
  expect_ok();
  for (int v : out.host()) EXPECT_EQ(v, 1);
}

TEST(Simt, AtomicHistograms) {
  const int n = 50000;
  std::mt19937 rng(5);
  std::vector<int> v(n);
  std::vector<unsigned> want(kBins, 0);
  for (int& x : v) ++want[x = int(rng() % kBins)];
  DeviceVec<int> d_v(v);
  DeviceVec<unsigned> d_g(kBins), d_s(kBins);
  histogram_global(d_v.ptr, n, d_g.ptr, 5, 96);
  expect_ok();
  histogram_shared(d_v.ptr, n, d_s.ptr, 5, 96);
  expect_ok();
  EXPECT_EQ(d_g.host(), want);
  EXPECT_EQ(d_s.host(), want);
}

TEST(Simt, AtomicMinMaxAddCas) {
  const int n = 20000;
  std::mt19937 rng(9);
  std::vector<int> v(n);
  int mx = -(1 << 30), mn = 1 << 30;
  unsigned long long sum = 0;
  double fsum = 0;
  for (int& x : v) {
    x = int(rng() % 2001) - 1000;
    mx = std::max(mx, x);
    mn = std::min(mn, x);
    sum += (unsigned long long)(x + 1000);
    fsum += x;
  }
  DeviceVec<int> d_v(v), d_mx(std::vector<int>{-(1 << 30)}), d_mn(std::vector<int>{1 << 30}), d_cas(1);
  DeviceVec<unsigned long long> d_sum(1);
  DeviceVec<float> d_fsum(1);
  atomics(d_v.ptr, n, d_mx.ptr, d_mn.ptr, d_sum.ptr, d_fsum.ptr, d_cas.ptr, 4, 64);
  expect_ok();
  EXPECT_EQ(d_mx.host()[0], mx);
  EXPECT_EQ(d_mn.host()[0], mn);
  EXPECT_EQ(d_sum.host()[0], sum);
  EXPECT_EQ(d_fsum.host()[0], float(fsum));
  EXPECT_EQ(d_cas.host()[0], n);
}

TEST(Simt, DynamicSharedMemory) {
  const int threads = 64, n = threads * 5;
  std::vector<float> in(n);
  for (int i = 0; i < n; ++i) in[i] = float(i) * 0.5f;
  DeviceVec<float> d_in(in), d_out(n);
  reverse_blocks(d_in.ptr, d_out.ptr, n, threads, threads * sizeof(float));
  expect_ok();
  const auto out = d_out.host();
  for (int i = 0; i < n; ++i) EXPECT_EQ(out[i], in[i / threads * threads + threads - 1 - i % threads]) << i;

  // Over 48 KiB needs the kernel's opt-in, as on the GPU.
  const int words = 16384;  // 64 KiB
  DeviceVec<unsigned> d_sum(1);
  smem_fill_sum(d_sum.ptr, words);
  ASSERT_EQ(cudaGetLastError(), cudaErrorInvalidValue);
  EXPECT_HAS(moe::simt::error_detail(cudaErrorInvalidValue), "65536 bytes of dynamic shared memory");
  ASSERT_EQ(cudaFuncSetAttribute(smem_fill_sum_kernel(), cudaFuncAttributeMaxDynamicSharedMemorySize, words * 4),
            cudaSuccess);
  smem_fill_sum(d_sum.ptr, words);
  expect_ok();
  EXPECT_EQ(d_sum.host()[0], unsigned(words) * (words - 1) / 2);
  EXPECT_EQ(cudaFuncSetAttribute(smem_fill_sum_kernel(), cudaFuncAttributeMaxDynamicSharedMemorySize, 232449),
            cudaErrorInvalidValue);
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidValue);
}

TEST(Simt, MultiDimensionalGridStrideLoops) {
  struct Case {
    int nx, ny, nz;
    dim3 grid, block;
  };
  for (const Case& c : {Case{37, 19, 5, dim3(3, 2, 2), dim3(8, 4, 2)}, Case{5, 3, 2, dim3(10, 10, 3), dim3(8, 8, 1)},
                        Case{1000, 1, 1, dim3(3), dim3(32)}}) {
    DeviceVec<unsigned> counts(size_t(c.nx) * c.ny * c.nz);
    coverage(counts.ptr, c.nx, c.ny, c.nz, c.grid, c.block);
    expect_ok();
    const auto h = counts.host();
    for (size_t i = 0; i < h.size(); ++i) ASSERT_EQ(h[i], 1u) << "element " << i << " of " << c.nx << "x" << c.ny << "x" << c.nz;
  }
}

TEST(Simt, LaunchConfigurationErrors) {
  struct Case {
    dim3 grid, block;
    size_t smem;
    cudaStream_t stream;
    cudaError_t want;
    const char* detail;
  };
  const cudaStream_t bogus = reinterpret_cast<cudaStream_t>(uintptr_t(0x1234));
  const Case cases[] = {
      {dim3(1), dim3(1025), 0, nullptr, cudaErrorInvalidConfiguration, "block (1025,1,1) = 1025 threads"},
      {dim3(1), dim3(32, 33), 0, nullptr, cudaErrorInvalidConfiguration, "= 1056 threads"},
      {dim3(1), dim3(1, 1, 65), 0, nullptr, cudaErrorInvalidConfiguration, "block (1,1,65)"},
      {dim3(1), dim3(0), 0, nullptr, cudaErrorInvalidConfiguration, "block (0,1,1)"},
      {dim3(0), dim3(32), 0, nullptr, cudaErrorInvalidConfiguration, "grid (0,1,1)"},
      {dim3(1, 65536), dim3(32), 0, nullptr, cudaErrorInvalidConfiguration, "grid (1,65536,1)"},
      {dim3(1), dim3(32), 49153, nullptr, cudaErrorInvalidValue, "49153 bytes of dynamic shared memory"},
      {dim3(1), dim3(32), 0, bogus, cudaErrorInvalidResourceHandle, "unknown stream"},
  };
  DeviceVec<int> flag(1);
  for (const Case& c : cases) {
    touch(flag.ptr, c.grid, c.block, c.smem, c.stream);
    EXPECT_EQ(cudaPeekAtLastError(), c.want) << c.detail;
    EXPECT_EQ(cudaGetLastError(), c.want) << c.detail;
    EXPECT_HAS(moe::simt::error_detail(c.want), c.detail);
    EXPECT_HAS(moe::simt::error_detail(c.want), "touch_kernel");
    EXPECT_EQ(cudaGetLastError(), cudaSuccess) << "cudaGetLastError resets";
    EXPECT_EQ(flag.host()[0], 0) << "the kernel ran despite " << c.detail;
  }
  touch(flag.ptr, dim3(1), dim3(1024), 49152, nullptr);  // the limits themselves are fine
  expect_ok();
  EXPECT_EQ(flag.host()[0], 1);
}

// Each CUDA thread records the address of a local, and whether its locals
// and coordinates survive the switches at three barriers, and which host
// thread ran it.
__global__ void thread_stacks_kernel(uintptr_t* where, int* intact, std::thread::id* host) {
  const unsigned t = blockIdx.x * blockDim.x + threadIdx.x;
  volatile unsigned mine = t * 2654435761u;
  where[t] = reinterpret_cast<uintptr_t>(&mine);
  bool ok = true;
  for (int k = 0; k < 3; ++k) {
    __syncthreads();
    ok = ok && mine == t * 2654435761u && blockIdx.x * blockDim.x + threadIdx.x == t;
  }
  intact[t] = ok;
  host[t] = std::this_thread::get_id();
}

TEST(Simt, EachCudaThreadOfABlockHasItsOwnStackOnTheLaunchingThread) {
  const int threads = 96, blocks = 3;
  std::vector<uintptr_t> where(threads * blocks);
  std::vector<int> intact(threads * blocks, 0);
  std::vector<std::thread::id> host(threads * blocks);
  MOE_LAUNCH(thread_stacks_kernel, blocks, threads, 0, nullptr)(where.data(), intact.data(), host.data());
  expect_ok();
  std::set<uintptr_t> distinct(where.begin(), where.begin() + threads);
  EXPECT_EQ(int(distinct.size()), threads);
  for (int t = 0; t < threads * blocks; ++t) {
    EXPECT_EQ(intact[size_t(t)], 1) << "thread " << t;
    EXPECT_EQ(host[size_t(t)], std::this_thread::get_id()) << "thread " << t;  // the default stream runs here
  }
}

// A host function that holds its stream until opened (or 5 s pass: then
// timed_out says the test waited where it should not have).
struct Gate {
  std::atomic<bool> open{false}, timed_out{false};
  static void CUDART_CB wait(void* p) {
    auto* g = static_cast<Gate*>(p);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!g->open.load()) {
      if (std::chrono::steady_clock::now() > deadline) {
        g->timed_out = true;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
};

TEST(SimtStreams, CreatedStreamsRunAlongsideTheHost) {
  cudaStream_t s;
  ASSERT_EQ(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), cudaSuccess);
  cudaEvent_t e;
  ASSERT_EQ(cudaEventCreate(&e), cudaSuccess);
  Gate gate;
  DeviceVec<int> flag(1, 0xFF);
  ASSERT_EQ(cudaLaunchHostFunc(s, Gate::wait, &gate), cudaSuccess);
  ASSERT_EQ(cudaMemsetAsync(flag.ptr, 0, sizeof(int), s), cudaSuccess);
  touch(flag.ptr, dim3(1), dim3(32), 0, s);
  ASSERT_EQ(cudaEventRecord(e, s), cudaSuccess);
  EXPECT_EQ(cudaStreamQuery(s), cudaErrorNotReady);
  EXPECT_EQ(cudaEventQuery(e), cudaErrorNotReady);
  float ms;
  EXPECT_EQ(cudaEventElapsedTime(&ms, e, e), cudaErrorNotReady);
  gate.open = true;
  ASSERT_EQ(cudaStreamSynchronize(s), cudaSuccess);
  EXPECT_FALSE(gate.timed_out);
  EXPECT_EQ(cudaEventQuery(e), cudaSuccess);
  EXPECT_EQ(cudaStreamQuery(s), cudaSuccess);
  EXPECT_EQ(flag.host()[0], 1);  // the memset, then the kernel
  EXPECT_EQ(cudaEventDestroy(e), cudaSuccess);
  EXPECT_EQ(cudaStreamDestroy(s), cudaSuccess);
}

TEST(SimtStreams, LegacyStreamWaitsForBlockingStreamsOnly) {
  struct Slow {
    std::atomic<int> value{0};
    static void CUDART_CB run(void* p) {
      std::this_thread::sleep_for(std::chrono::milliseconds(30));
      static_cast<Slow*>(p)->value = 1;
    }
  } slow;
  struct Seen {
    std::atomic<int>* from;
    int value = -1;
    static void CUDART_CB run(void* p) { static_cast<Seen*>(p)->value = static_cast<Seen*>(p)->from->load(); }
  } seen{&slow.value};
  cudaStream_t blocking, nonblocking;
  ASSERT_EQ(cudaStreamCreate(&blocking), cudaSuccess);
  ASSERT_EQ(cudaStreamCreateWithFlags(&nonblocking, cudaStreamNonBlocking), cudaSuccess);
  Gate gate;
  ASSERT_EQ(cudaLaunchHostFunc(nonblocking, Gate::wait, &gate), cudaSuccess);
  ASSERT_EQ(cudaLaunchHostFunc(blocking, Slow::run, &slow), cudaSuccess);
  ASSERT_EQ(cudaLaunchHostFunc(nullptr, Seen::run, &seen), cudaSuccess);  // after the blocking stream's work
  EXPECT_EQ(seen.value, 1);
  gate.open = true;  // the non-blocking stream was not waited for
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  EXPECT_FALSE(gate.timed_out);
  EXPECT_EQ(cudaStreamDestroy(blocking), cudaSuccess);
  EXPECT_EQ(cudaStreamDestroy(nonblocking), cudaSuccess);
}

// A host function that copies one int: run on a stream, it shows what the
// stream saw when it got there.
struct Copy {
  const int* from;
  int* to;
  static void CUDART_CB run(void* p) { *static_cast<Copy*>(p)->to = *static_cast<Copy*>(p)->from; }
};

TEST(SimtStreams, StreamWaitEventOrdersTwoStreams) {
  int x = 0, seen = -1;
  const int seven = 7;
  Copy set_x{&seven, &x}, read_x{&x, &seen};
  cudaStream_t s1, s2;
  ASSERT_EQ(cudaStreamCreateWithFlags(&s1, cudaStreamNonBlocking), cudaSuccess);
  ASSERT_EQ(cudaStreamCreateWithFlags(&s2, cudaStreamNonBlocking), cudaSuccess);
  cudaEvent_t e;
  ASSERT_EQ(cudaEventCreateWithFlags(&e, cudaEventDisableTiming), cudaSuccess);
  Gate gate;
  ASSERT_EQ(cudaLaunchHostFunc(s1, Gate::wait, &gate), cudaSuccess);
  ASSERT_EQ(cudaLaunchHostFunc(s1, Copy::run, &set_x), cudaSuccess);
  ASSERT_EQ(cudaEventRecord(e, s1), cudaSuccess);
  ASSERT_EQ(cudaStreamWaitEvent(s2, e), cudaSuccess);
  ASSERT_EQ(cudaEventDestroy(e), cudaSuccess);  // s2's wait keeps it alive
  ASSERT_EQ(cudaLaunchHostFunc(s2, Copy::run, &read_x), cudaSuccess);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // time enough to run, were it not waiting
  EXPECT_EQ(cudaStreamQuery(s2), cudaErrorNotReady);
  gate.open = true;
  ASSERT_EQ(cudaStreamSynchronize(s2), cudaSuccess);
  EXPECT_EQ(seen, 7);
  EXPECT_FALSE(gate.timed_out);
  EXPECT_EQ(cudaStreamDestroy(s1), cudaSuccess);
  EXPECT_EQ(cudaStreamDestroy(s2), cudaSuccess);
}

// A wait is for the record it saw: the event recorded again on another
// stream (a pooled event, reused as soon as the wait is queued) whose work
// finishes first does not release it.
TEST(SimtStreams, StreamWaitEventWaitsForItsOwnRecord) {
  int x = 0, seen = -1;
  const int seven = 7;
  Copy set_x{&seven, &x}, read_x{&x, &seen};
  cudaStream_t slow, fast, waiter;
  for (cudaStream_t* s : {&slow, &fast, &waiter})
    ASSERT_EQ(cudaStreamCreateWithFlags(s, cudaStreamNonBlocking), cudaSuccess);
  cudaEvent_t e;
  ASSERT_EQ(cudaEventCreateWithFlags(&e, cudaEventDisableTiming), cudaSuccess);
  Gate gate;
  ASSERT_EQ(cudaLaunchHostFunc(slow, Gate::wait, &gate), cudaSuccess);
  ASSERT_EQ(cudaLaunchHostFunc(slow, Copy::run, &set_x), cudaSuccess);
  ASSERT_EQ(cudaEventRecord(e, slow), cudaSuccess);
  ASSERT_EQ(cudaStreamWaitEvent(waiter, e), cudaSuccess);
  ASSERT_EQ(cudaEventRecord(e, fast), cudaSuccess);  // completes at once
  ASSERT_EQ(cudaStreamSynchronize(fast), cudaSuccess);
  ASSERT_EQ(cudaLaunchHostFunc(waiter, Copy::run, &read_x), cudaSuccess);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // time enough to run, were it not waiting
  EXPECT_EQ(cudaStreamQuery(waiter), cudaErrorNotReady);
  gate.open = true;
  ASSERT_EQ(cudaStreamSynchronize(waiter), cudaSuccess);
  EXPECT_EQ(seen, 7);
  EXPECT_FALSE(gate.timed_out);
  EXPECT_EQ(cudaEventDestroy(e), cudaSuccess);
  for (cudaStream_t s : {slow, fast, waiter}) EXPECT_EQ(cudaStreamDestroy(s), cudaSuccess);
}

// A kernel, device-to-device and pinned copies queued on a stream, launched
// from a scope that has ended before they run.
TEST(SimtStreams, KernelsAndCopiesRunInStreamOrder) {
  const int64_t n = 5000;
  const int blocks = 3;
  std::vector<long long> in(n);
  long long want = 0;
  for (int64_t i = 0; i < n; ++i) want += (in[i] = i * 7 - 100);
  DeviceVec<long long> d_in(in), d_partial(blocks), d_copy(blocks);
  long long* pinned = nullptr;
  ASSERT_EQ(cudaMallocHost(reinterpret_cast<void**>(&pinned), blocks * sizeof(long long)), cudaSuccess);
  cudaStream_t s;
  ASSERT_EQ(cudaStreamCreate(&s), cudaSuccess);
  Gate gate;
  ASSERT_EQ(cudaLaunchHostFunc(s, Gate::wait, &gate), cudaSuccess);
  {
    const int64_t count = n;  // the launch keeps its own copy of the arguments
    block_sum(d_in.ptr, d_partial.ptr, count, blocks, s);
  }
  expect_ok();
  ASSERT_EQ(cudaMemcpyAsync(d_copy.ptr, d_partial.ptr, blocks * sizeof(long long), cudaMemcpyDeviceToDevice, s),
            cudaSuccess);
  ASSERT_EQ(cudaMemcpyAsync(pinned, d_copy.ptr, blocks * sizeof(long long), cudaMemcpyDeviceToHost, s), cudaSuccess);
  gate.open = true;
  ASSERT_EQ(cudaStreamSynchronize(s), cudaSuccess);
  long long got = 0;
  for (int b = 0; b < blocks; ++b) got += pinned[b];
  EXPECT_EQ(got, want);
  EXPECT_EQ(cudaStreamDestroy(s), cudaSuccess);
  EXPECT_EQ(cudaFreeHost(pinned), cudaSuccess);
}

TEST(SimtStreams, FaultOnAStreamIsReportedBySynchronize) {
  cudaStream_t s;
  ASSERT_EQ(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), cudaSuccess);
  DeviceVec<int> out(64);
  trap_in_lane(out.ptr, 3, s);
  EXPECT_EQ(cudaStreamSynchronize(s), cudaErrorLaunchFailure);
  EXPECT_HAS(moe::simt::error_detail(cudaErrorLaunchFailure), "__trap()");
  EXPECT_EQ(cudaGetLastError(), cudaErrorLaunchFailure);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
  EXPECT_EQ(cudaStreamDestroy(s), cudaSuccess);
}

TEST(SimtRuntime, CopiesAndSetsAreChecked) {
  DeviceVec<int> d(16);
  std::vector<int> h(32);
  EXPECT_EQ(cudaMemcpy(h.data(), d.ptr + 4, 16 * sizeof(int), cudaMemcpyDeviceToHost), cudaErrorInvalidValue);
  EXPECT_HAS(moe::simt::error_detail(cudaErrorInvalidValue), "run past the end of their allocation");
  EXPECT_EQ(cudaMemcpy(h.data(), d.ptr + 4, 12 * sizeof(int), cudaMemcpyDeviceToHost), cudaSuccess);
  EXPECT_EQ(cudaMemset(h.data(), 0, sizeof(int)), cudaErrorInvalidValue);
  EXPECT_HAS(moe::simt::error_detail(cudaErrorInvalidValue), "not device memory");
  EXPECT_EQ(cudaMemsetAsync(d.ptr + 8, 0, 9 * sizeof(int)), cudaErrorInvalidValue);
  EXPECT_EQ(cudaFreeHost(h.data()), cudaErrorInvalidValue);
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidValue);
}

TEST(SimtRuntime, Memory) {
  size_t free0, total;
  ASSERT_EQ(cudaMemGetInfo(&free0, &total), cudaSuccess);
  void* p = nullptr;
  ASSERT_EQ(cudaMalloc(&p, 1000), cudaSuccess);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 256, 0u);
  size_t free1;
  ASSERT_EQ(cudaMemGetInfo(&free1, &total), cudaSuccess);
  EXPECT_EQ(free0 - free1, 1000u);
  std::vector<unsigned char> h(1000, 7), back(1000, 0);
  ASSERT_EQ(cudaMemset(p, 0xAB, 1000), cudaSuccess);
  ASSERT_EQ(cudaMemcpy(back.data(), p, 1000, cudaMemcpyDeviceToHost), cudaSuccess);
  EXPECT_EQ(back, std::vector<unsigned char>(1000, 0xAB));
  ASSERT_EQ(cudaMemcpy(p, h.data(), 1000, cudaMemcpyDefault), cudaSuccess);
  ASSERT_EQ(cudaMemcpy(back.data(), p, 1000, cudaMemcpyDeviceToHost), cudaSuccess);
  EXPECT_EQ(back, h);
  EXPECT_EQ(cudaMemcpy(back.data(), p, 10, cudaMemcpyKind(7)), cudaErrorInvalidMemcpyDirection);
  EXPECT_EQ(cudaMemcpy(nullptr, p, 10, cudaMemcpyDeviceToHost), cudaErrorInvalidValue);
  EXPECT_EQ(cudaFree(p), cudaSuccess);
  EXPECT_EQ(cudaFree(p), cudaErrorInvalidValue);  // double free
  EXPECT_HAS(moe::simt::error_detail(cudaErrorInvalidValue), "not a live cudaMalloc pointer");
  EXPECT_EQ(cudaFree(nullptr), cudaSuccess);

  moe::simt::set_device_memory_limit(1 << 20);
  void* a = nullptr;
  void* b = nullptr;
  EXPECT_EQ(cudaMalloc(&a, 768 << 10), cudaSuccess);
  EXPECT_EQ(cudaMalloc(&b, 512 << 10), cudaErrorMemoryAllocation);
  EXPECT_EQ(b, nullptr);
  EXPECT_HAS(moe::simt::error_detail(cudaErrorMemoryAllocation), "cudaMalloc of 524288 bytes");
  EXPECT_EQ(cudaFree(a), cudaSuccess);
  EXPECT_EQ(cudaMalloc(&b, 512 << 10), cudaSuccess);
  EXPECT_EQ(cudaFree(b), cudaSuccess);
  moe::simt::set_device_memory_limit(total);
  (void)cudaGetLastError();
}

TEST(SimtRuntime, StreamsAndEvents) {
  cudaStream_t s;
  ASSERT_EQ(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), cudaSuccess);
  cudaEvent_t start, stop, untimed, never;
  ASSERT_EQ(cudaEventCreate(&start), cudaSuccess);
  ASSERT_EQ(cudaEventCreate(&stop), cudaSuccess);
  ASSERT_EQ(cudaEventCreateWithFlags(&untimed, cudaEventDisableTiming), cudaSuccess);
  ASSERT_EQ(cudaEventCreate(&never), cudaSuccess);

  DeviceVec<int> flag(1);
  std::vector<int> h = {5};
  ASSERT_EQ(cudaEventRecord(start, s), cudaSuccess);
  ASSERT_EQ(cudaMemcpyAsync(flag.ptr, h.data(), sizeof(int), cudaMemcpyHostToDevice, s), cudaSuccess);
  ASSERT_EQ(cudaMemsetAsync(flag.ptr, 0, sizeof(int), s), cudaSuccess);
  touch(flag.ptr, dim3(1), dim3(1), 0, s);
  expect_ok();
  ASSERT_EQ(cudaEventRecord(stop, s), cudaSuccess);
  ASSERT_EQ(cudaEventRecord(untimed, s), cudaSuccess);
  ASSERT_EQ(cudaStreamWaitEvent(nullptr, stop), cudaSuccess);
  ASSERT_EQ(cudaEventSynchronize(stop), cudaSuccess);
  EXPECT_EQ(cudaEventQuery(stop), cudaSuccess);
  ASSERT_EQ(cudaStreamSynchronize(s), cudaSuccess);
  EXPECT_EQ(cudaStreamQuery(s), cudaSuccess);
  EXPECT_EQ(flag.host()[0], 1);
  float ms = -1;
  ASSERT_EQ(cudaEventElapsedTime(&ms, start, stop), cudaSuccess);
  EXPECT_GE(ms, 0.0f);
  EXPECT_EQ(cudaEventElapsedTime(&ms, start, untimed), cudaErrorInvalidResourceHandle);
  EXPECT_EQ(cudaEventElapsedTime(&ms, start, never), cudaErrorInvalidResourceHandle);
  EXPECT_HAS(moe::simt::error_detail(cudaErrorInvalidResourceHandle), "never recorded");

  for (cudaEvent_t e : {start, stop, untimed, never}) EXPECT_EQ(cudaEventDestroy(e), cudaSuccess);
  EXPECT_EQ(cudaEventDestroy(start), cudaErrorInvalidResourceHandle);
  EXPECT_EQ(cudaStreamDestroy(s), cudaSuccess);
  EXPECT_EQ(cudaStreamDestroy(s), cudaErrorInvalidResourceHandle);
  touch(flag.ptr, dim3(1), dim3(1), 0, s);  // a destroyed stream
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidResourceHandle);
  EXPECT_EQ(cudaStreamSynchronize(nullptr), cudaSuccess);
  EXPECT_EQ(cudaStreamSynchronize(cudaStreamPerThread), cudaSuccess);
  (void)cudaGetLastError();
}

TEST(SimtRuntime, DeviceAndErrorStrings) {
  int n = 0, d = -1, v = 0;
  EXPECT_EQ(cudaGetDeviceCount(&n), cudaSuccess);
  EXPECT_EQ(n, 1);
  EXPECT_EQ(cudaSetDevice(0), cudaSuccess);
  EXPECT_EQ(cudaSetDevice(1), cudaErrorInvalidDevice);
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidDevice);
  EXPECT_EQ(cudaGetDevice(&d), cudaSuccess);
  EXPECT_EQ(d, 0);
  EXPECT_EQ(cudaDeviceGetAttribute(&v, cudaDevAttrMaxThreadsPerBlock, 0), cudaSuccess);
  EXPECT_EQ(v, 1024);
  EXPECT_EQ(cudaDeviceGetAttribute(&v, cudaDevAttrComputeCapabilityMajor, 0), cudaSuccess);
  EXPECT_EQ(v, 9);
  EXPECT_EQ(cudaDeviceGetAttribute(&v, cudaDevAttrMultiProcessorCount, 0), cudaSuccess);
  EXPECT_GE(v, 1);
  EXPECT_STREQ(cudaGetErrorName(cudaErrorInvalidConfiguration), "cudaErrorInvalidConfiguration");
  EXPECT_STREQ(cudaGetErrorString(cudaErrorInvalidConfiguration), "invalid configuration argument");
  EXPECT_STREQ(cudaGetErrorString(cudaErrorLaunchFailure), "unspecified launch failure");
  EXPECT_STREQ(cudaGetErrorString(cudaSuccess), "no error");
}

}  // namespace
}  // namespace moe::simt_test
