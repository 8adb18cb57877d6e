// The per-device CUDA context (core/cuda/context.h): ops go to the
// non-blocking compute stream, StreamScope redirects them, the pinned
// staging ring never overwrites data a queued transfer still reads, copies
// of any size arrive intact, and Upload (the trainer's batch prefetch, on
// the copy stream) gives what a direct copy gives. Skipped without a device.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <numeric>
#include <thread>
#include <vector>

#include "core/cuda/context.h"
#include "core/cuda/runtime.h"
#include "core/ops.h"

namespace moe {
namespace {

#define SKIP_WITHOUT_GPU() \
  if (cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device"

// Holds a stream busy until the flag is set (a host function, no kernel).
void CUDART_CB wait_for_flag(void* flag) {
  while (!static_cast<std::atomic<bool>*>(flag)->load()) std::this_thread::yield();
}
struct Release {  // a failing check must not leave a stream spinning
  std::atomic<bool>& flag;
  ~Release() { flag = true; }
};

std::vector<unsigned char> pattern(size_t n, unsigned seed) {
  std::vector<unsigned char> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<unsigned char>((i * 131 + seed * 17 + (i >> 8)) & 0xff);
  return v;
}

TEST(CudaContext, OpsRunOnTheComputeStreamUnlessAScopeSaysOtherwise) {
  SKIP_WITHOUT_GPU();
  cuda::DeviceContext& c = cuda::device_context(0);
  EXPECT_NE(c.compute, nullptr);  // a created stream, not the legacy default
  EXPECT_NE(c.compute, c.copy);
  EXPECT_NE(c.compute, c.comm);
  EXPECT_EQ(cuda::current_stream(0), c.compute);
  {
    const cuda::StreamScope outer(0, c.copy);
    EXPECT_EQ(cuda::current_stream(0), c.copy);
    {
      const cuda::StreamScope inner(0, c.comm);
      EXPECT_EQ(cuda::current_stream(0), c.comm);
    }
    EXPECT_EQ(cuda::current_stream(0), c.copy);
  }
  EXPECT_EQ(cuda::current_stream(0), c.compute);

  const Tensor a = from_vector({1, 2, 3, 4}, {4}, DType::f32, Device::cuda(0));
  std::atomic<bool> go{false};
  Tensor sum;
  {
    Release release{go};
    MOE_CUDA_CHECK(cudaLaunchHostFunc(c.compute, wait_for_flag, &go));
    sum = add(a, a);  // queued behind the blocked host function: the op returned without running
    EXPECT_EQ(cudaStreamQuery(c.compute), cudaErrorNotReady);
    (void)cudaGetLastError();
  }
  EXPECT_EQ(sum.to_vector(), (std::vector<double>{2, 4, 6, 8}));
}

TEST(CudaContext, StagingRingWaitsForQueuedTransfersBeforeReusingARegion) {
  SKIP_WITHOUT_GPU();
  cuda::DeviceContext& c = cuda::device_context(0);
  cuda::PinnedStaging ring(0, 4096, &c.events);
  cudaStream_t s;
  MOE_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  constexpr int kChunks = 5;  // 5 x 1 KiB through a 4 KiB ring
  constexpr size_t kChunk = 1024;
  void* dev = nullptr;
  MOE_CUDA_CHECK(cudaMalloc(&dev, kChunks * kChunk));
  std::vector<std::vector<unsigned char>> src;
  for (int i = 0; i < kChunks; ++i) src.push_back(pattern(kChunk, unsigned(i + 1)));
  std::atomic<bool> go{false};
  {
    Release release{go};
    MOE_CUDA_CHECK(cudaLaunchHostFunc(s, wait_for_flag, &go));
    for (int i = 0; i + 1 < kChunks; ++i)
      ring.upload(static_cast<unsigned char*>(dev) + i * kChunk, src[size_t(i)].data(), kChunk, s);
    EXPECT_EQ(ring.waits(), 0);
    // The ring is full of queued chunks: the fifth must wait for the first.
    std::atomic<bool> returned{false};
    std::thread last([&] {
      ring.upload(static_cast<unsigned char*>(dev) + (kChunks - 1) * kChunk, src.back().data(), kChunk, s);
      returned = true;
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    EXPECT_FALSE(returned.load()) << "an upload reused a region a queued transfer still reads";
    go = true;
    last.join();
  }
  EXPECT_EQ(ring.waits(), 1);
  MOE_CUDA_CHECK(cudaStreamSynchronize(s));
  std::vector<unsigned char> back(kChunks * kChunk);
  ring.download(back.data(), dev, back.size(), s);
  for (int i = 0; i < kChunks; ++i)
    EXPECT_EQ(std::memcmp(back.data() + i * kChunk, src[size_t(i)].data(), kChunk), 0) << "chunk " << i;
  MOE_CUDA_CHECK(cudaFree(dev));
  MOE_CUDA_CHECK(cudaStreamDestroy(s));
}

TEST(CudaContext, CopiesLargerThanTheRingArriveIntact) {
  SKIP_WITHOUT_GPU();
  cuda::DeviceContext& c = cuda::device_context(0);
  cuda::PinnedStaging ring(0, 4096, &c.events);
  for (size_t n : {size_t(1), size_t(255), size_t(2048), size_t(2049), size_t(37 * 1024 + 13)}) {
    const std::vector<unsigned char> src = pattern(n, unsigned(n));
    void* dev = nullptr;
    MOE_CUDA_CHECK(cudaMalloc(&dev, n));
    ring.upload(dev, src.data(), n, c.compute);
    std::vector<unsigned char> back(n, 0);
    ring.download(back.data(), dev, n, c.compute);
    EXPECT_EQ(back, src) << n << " bytes";
    MOE_CUDA_CHECK(cudaFree(dev));
  }
  // Tensors through the device's own ring: larger than a chunk of it.
  std::vector<double> v(3 * (size_t(1) << 20) + 7);
  std::iota(v.begin(), v.end(), -5.0);
  const Tensor t = from_vector(v, {int64_t(v.size())}, DType::f32, Device::cuda(0));
  EXPECT_EQ(t.to_vector(), v);
}

TEST(CudaContext, UploadAheadEqualsADirectCopyAndOrdersTheComputeStream) {
  SKIP_WITHOUT_GPU();
  std::vector<double> v(5000);
  std::iota(v.begin(), v.end(), 1.0);
  const Tensor host = from_vector(v, {50, 100}, DType::i64);
  cuda::DeviceContext& c = cuda::device_context(0);
  std::atomic<bool> go{false};
  Tensor doubled;
  {
    Release release{go};
    // The copy stream is held: work after take() must wait for it.
    MOE_CUDA_CHECK(cudaLaunchHostFunc(c.copy, wait_for_flag, &go));
    Upload up(host, Device::cuda(0));
    const Tensor on_gpu = up.take();
    EXPECT_TRUE(on_gpu.device().is_cuda());
    doubled = add(on_gpu, on_gpu);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    EXPECT_EQ(cudaStreamQuery(c.compute), cudaErrorNotReady) << "compute ran ahead of the upload";
    (void)cudaGetLastError();
  }
  std::vector<double> want(v);
  for (double& x : want) x *= 2;
  EXPECT_EQ(doubled.to_vector(), want);
  EXPECT_EQ(Upload(host, Device::cuda(0)).take().to_vector(), to_device(host, Device::cuda(0)).to_vector());
  // On the CPU the tensor itself.
  EXPECT_EQ(Upload(host, Device::cpu()).take().raw_data(), host.raw_data());
  Upload twice(host, Device::cuda(0));
  (void)twice.take();
  EXPECT_THROW((void)twice.take(), Error);
}

}  // namespace
}  // namespace moe
