// CUDA kernels of the copy family: one thread per element, the conversions
// of core/kernels/element_convert.h, Philox from core/random.h (so the same
// numbers as the CPU fill). fill_normal has no kernel yet: the double
// precision log and cos of its Box-Muller use local memory on the GPU.
#include "core/cuda/copy.h"

#include "core/cuda/device_memory.h"
#include "core/cuda/launch.h"
#include "core/dtype_switch.h"
#include "core/kernels/element_convert.h"
#include "core/ops.h"
#include "core/random.h"

namespace moe::cuda {

namespace {

template <typename S, typename D>
__global__ void copy_kernel(D* __restrict__ dst, const S* __restrict__ src, math::StridedIndex<2> ix, int64_t n,
                            bool saturate) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    int64_t off[2];
    ix.offsets(i, off);
    dst[off[0]] = math::convert<S, D>(src[off[1]], saturate);
  }
}

template <typename D>
__global__ void fill_kernel(D* __restrict__ dst, math::StridedIndex<1> ix, int64_t n, D value) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    int64_t off[1];
    ix.offsets(i, off);
    dst[off[0]] = value;
  }
}

template <typename D>
__global__ void uniform_kernel(D* __restrict__ dst, int64_t n, uint64_t seed, uint64_t stream) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    dst[i] = math::store<D>(double(philox::uniform(seed, stream, uint64_t(i))), false);
}

}  // namespace

void fill_uniform(const Tensor& dst, uint64_t seed, uint64_t stream) {
  MOE_CHECK(dst.is_contiguous(), "random fill needs a contiguous tensor");
  const int64_t n = dst.numel();
  if (n == 0) return;
  DeviceGuard on(dst);
  dtype_switch_storage(dst.dtype(), [&](auto td) {
    using D = typename decltype(td)::type;
    auto* k = &uniform_kernel<D>;
    MOE_LAUNCH(k, grid_stride_blocks(n, kBlock), kBlock, 0, current_stream())(dst.device_data<D>(), n, seed, stream);
  });
  MOE_CUDA_CHECK(cudaGetLastError());
}

void copy_strided(const Tensor& dst, const Tensor& src, bool saturate) {
  const int64_t n = dst.numel();
  if (n == 0) return;
  DeviceGuard on(dst);
  if (dst.dtype() == src.dtype() && dst.is_contiguous() && src.is_contiguous() && src.shape() == dst.shape()) {
    MOE_CUDA_CHECK(cudaMemcpyAsync(dst.raw_data(), src.raw_data(), size_t(n) * dtype_size(dst.dtype()),
                                   cudaMemcpyDeviceToDevice, current_stream()));
    return;
  }
  const math::StridedIndex<2> ix =
      strided_index<2>("copy_strided", dst.shape(), {dst.strides(), broadcast_strides(src, dst.shape())});
  dtype_switch_storage(src.dtype(), [&](auto ts) {
    using S = typename decltype(ts)::type;
    dtype_switch_storage(dst.dtype(), [&](auto td) {
      using D = typename decltype(td)::type;
      auto* k = &copy_kernel<S, D>;
      MOE_LAUNCH(k, grid_stride_blocks(n, kBlock), kBlock, 0, current_stream())(
          dst.device_data<D>(), src.device_data<S>(), ix, n, saturate);
    });
  });
  MOE_CUDA_CHECK(cudaGetLastError());
}

void fill(const Tensor& dst, double value) {
  const int64_t n = dst.numel();
  if (n == 0) return;
  DeviceGuard on(dst);
  const math::StridedIndex<1> ix = strided_index<1>("fill", dst.shape(), {dst.strides()});
  dtype_switch_storage(dst.dtype(), [&](auto td) {
    using D = typename decltype(td)::type;
    auto* k = &fill_kernel<D>;
    MOE_LAUNCH(k, grid_stride_blocks(n, kBlock), kBlock, 0, current_stream())(
        dst.device_data<D>(), ix, n, math::store<D>(value, false));
  });
  MOE_CUDA_CHECK(cudaGetLastError());
}


// Through the device's pinned staging ring on the current stream. An upload
// returns once the host data is in the ring (the caller may reuse its
// memory; later work on the stream sees the data); a download returns with
// the data on the host, after the stream's earlier work. Device to device
// is ordered on the destination's current stream.
void copy_between_devices(const Tensor& dst, const Tensor& src) {
  const size_t bytes = size_t(dst.numel()) * dtype_size(dst.dtype());
  if (bytes == 0) return;
  const bool to_gpu = dst.device().is_cuda(), from_gpu = src.device().is_cuda();
  const Tensor& gpu = to_gpu ? dst : src;
  DeviceGuard on(gpu);
  const int device = gpu.device().index;
  const cudaStream_t stream = current_stream(device);
  if (to_gpu && from_gpu) {
    // The source's own stream must have finished writing it first.
    if (src.device().index != device) stream_wait(src.device().index, stream, current_stream(src.device().index));
    MOE_CUDA_CHECK(cudaMemcpyAsync(dst.raw_data(), src.raw_data(), bytes, cudaMemcpyDeviceToDevice, stream));
    if (src.device().index != device) MOE_CUDA_CHECK(cudaStreamSynchronize(stream));
  } else if (to_gpu) {
    device_context(device).staging.upload(dst.raw_data(), src.raw_data(), bytes, stream);
  } else {
    device_context(device).staging.download(dst.raw_data(), src.raw_data(), bytes, stream);
  }
}

// The destination comes from the copy stream's free lists, so the copy
// needs no wait for the compute stream; finish_upload records the compute
// stream's use, so the block is not reused before compute is done with it.
Tensor upload_ahead(const Tensor& src, int device, void** ticket) {
  DeviceContext& c = device_context(device);
  Tensor dst;
  {
    const StreamScope on_copy(device, c.copy);
    dst = empty(src.shape(), src.dtype(), Device::cuda(device));
  }
  DeviceGuard on(dst);
  const size_t bytes = size_t(src.numel()) * dtype_size(src.dtype());
  if (bytes > 0) c.staging.upload(dst.raw_data(), src.raw_data(), bytes, c.copy);
  cudaEvent_t e = c.events.acquire();
  MOE_CUDA_CHECK(cudaEventRecord(e, c.copy));
  *ticket = e;
  return dst;
}

void finish_upload(const Tensor& dst, void* ticket) {
  const int device = dst.device().index;
  DeviceContext& c = device_context(device);
  DeviceGuard on(dst);
  const cudaStream_t s = current_stream(device);
  auto e = static_cast<cudaEvent_t>(ticket);
  MOE_CUDA_CHECK(cudaStreamWaitEvent(s, e, 0));
  c.events.release(e);
  if (dst.numel() > 0) cuda_caching_allocator(device)->record_stream(dst.raw_data(), s);
}

}  // namespace moe::cuda
