// The caching allocator over real device memory (core/cuda/device_memory.h):
// memory is usable, cross-stream reuse waits for the other stream, and a
// request beyond the device fails with the allocator's message. Skipped when
// no CUDA device is present.
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <vector>

#include "core/cuda/device_memory.h"
#include "core/cuda/runtime.h"

namespace moe {
namespace {

#define SKIP_WITHOUT_GPU() \
  if (cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device"

constexpr size_t kMiB = size_t(1) << 20;

TEST(CudaCachingAllocator, MemoryIsUsableAndReused) {
  SKIP_WITHOUT_GPU();
  CudaDeviceMemory raw(0);
  CachingDeviceAllocator a(&raw);
  void* p = a.allocate(3 * kMiB, nullptr);
  MOE_CUDA_CHECK(cudaMemset(p, 0x5a, 3 * kMiB));
  std::vector<unsigned char> h(3 * kMiB);
  MOE_CUDA_CHECK(cudaMemcpy(h.data(), p, h.size(), cudaMemcpyDeviceToHost));
  EXPECT_EQ(h.front(), 0x5a);
  EXPECT_EQ(h.back(), 0x5a);
  a.free(p);
  EXPECT_EQ(a.allocate(3 * kMiB, nullptr), p);
  EXPECT_EQ(a.stats().raw_allocs, 1u);
  a.free(p);
  a.empty_cache();
  EXPECT_EQ(a.stats().reserved_bytes, 0u);
}

// Holds a stream busy until released, with a host function (no kernel needed).
void CUDART_CB wait_for_flag(void* flag) {
  while (!static_cast<std::atomic<bool>*>(flag)->load()) {
  }
}

TEST(CudaCachingAllocator, RecordStreamWaitsForTheOtherStream) {
  SKIP_WITHOUT_GPU();
  CudaDeviceMemory raw(0);
  CachingDeviceAllocator a(&raw);
  cudaStream_t s1, s2;
  MOE_CUDA_CHECK(cudaStreamCreateWithFlags(&s1, cudaStreamNonBlocking));
  MOE_CUDA_CHECK(cudaStreamCreateWithFlags(&s2, cudaStreamNonBlocking));
  std::atomic<bool> release{false};
  struct Unblock {  // a failing check must not leave s2 spinning
    std::atomic<bool>& flag;
    ~Unblock() { flag = true; }
  } unblock{release};
  MOE_CUDA_CHECK(cudaLaunchHostFunc(s2, wait_for_flag, &release));
  void* p = a.allocate(4 * kMiB, s1);
  a.record_stream(p, s2);
  a.free(p);
  void* q = a.allocate(4 * kMiB, s1);
  EXPECT_NE(q, p);  // s2 has not reached the event yet
  release = true;
  MOE_CUDA_CHECK(cudaStreamSynchronize(s2));
  void* r = a.allocate(4 * kMiB, s1);
  EXPECT_EQ(r, p);
  a.free(q);
  a.free(r);
  MOE_CUDA_CHECK(cudaStreamSynchronize(s1));
  MOE_CUDA_CHECK(cudaStreamDestroy(s1));
  MOE_CUDA_CHECK(cudaStreamDestroy(s2));
}

TEST(CudaCachingAllocator, RequestBeyondTheDeviceThrowsOutOfMemory) {
  SKIP_WITHOUT_GPU();
  CudaDeviceMemory raw(0);
  CachingDeviceAllocator a(&raw);
  const size_t huge = size_t(64) << 40;  // 64 TiB
  try {
    a.allocate(huge, nullptr);
    ADD_FAILURE() << "expected out of memory";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("out of device memory on cuda:0"), std::string::npos) << m;
    EXPECT_NE(m.find(std::to_string(huge) + " bytes"), std::string::npos) << m;
  }
  // The runtime error was cleared: the next allocation works.
  void* p = a.allocate(kMiB, nullptr);
  EXPECT_NE(p, nullptr);
  a.free(p);
}

}  // namespace
}  // namespace moe
