// CUDA kernels of the copy family: one thread per element, the conversions
// of core/kernels/element_convert.h, Philox from core/random.h (so the same
// numbers as the CPU fill). fill_normal has no kernel yet: the double
// precision log and cos of its Box-Muller use local memory on the GPU.
#include "core/cuda/copy.h"

#include "core/cuda/launch.h"
#include "core/dtype_switch.h"
#include "core/kernels/element_convert.h"
#include "core/random.h"

namespace moe::cuda {

DeviceGuard::DeviceGuard(const Tensor& t) {
  MOE_CUDA_CHECK(cudaGetDevice(&previous_));
  if (previous_ != t.device().index) MOE_CUDA_CHECK(cudaSetDevice(t.device().index));
}
DeviceGuard::~DeviceGuard() {
  int now = -1;
  if (cudaGetDevice(&now) == cudaSuccess && now != previous_) (void)cudaSetDevice(previous_);
}

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
    MOE_LAUNCH(k, grid_stride_blocks(n, kBlock), kBlock, 0, nullptr)(dst.device_data<D>(), n, seed, stream);
  });
  MOE_CUDA_CHECK(cudaGetLastError());
}

void copy_strided(const Tensor& dst, const Tensor& src, bool saturate) {
  const int64_t n = dst.numel();
  if (n == 0) return;
  DeviceGuard on(dst);
  if (dst.dtype() == src.dtype() && dst.is_contiguous() && src.is_contiguous() && src.shape() == dst.shape()) {
    MOE_CUDA_CHECK(cudaMemcpyAsync(dst.raw_data(), src.raw_data(), size_t(n) * dtype_size(dst.dtype()),
                                   cudaMemcpyDeviceToDevice, nullptr));
    return;
  }
  const math::StridedIndex<2> ix =
      strided_index<2>("copy_strided", dst.shape(), {dst.strides(), broadcast_strides(src, dst.shape())});
  dtype_switch_storage(src.dtype(), [&](auto ts) {
    using S = typename decltype(ts)::type;
    dtype_switch_storage(dst.dtype(), [&](auto td) {
      using D = typename decltype(td)::type;
      auto* k = &copy_kernel<S, D>;
      MOE_LAUNCH(k, grid_stride_blocks(n, kBlock), kBlock, 0, nullptr)(dst.device_data<D>(), src.device_data<S>(), ix, n, saturate);
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
    MOE_LAUNCH(k, grid_stride_blocks(n, kBlock), kBlock, 0, nullptr)(dst.device_data<D>(), ix, n, math::store<D>(value, false));
  });
  MOE_CUDA_CHECK(cudaGetLastError());
}


// Synchronous: the host side may be pageable memory that the caller reuses
// at once; kernels queued on the default stream before it have finished.
void copy_between_devices(const Tensor& dst, const Tensor& src) {
  const size_t bytes = size_t(dst.numel()) * dtype_size(dst.dtype());
  if (bytes == 0) return;
  const bool to_gpu = dst.device().is_cuda(), from_gpu = src.device().is_cuda();
  DeviceGuard on(to_gpu ? dst : src);
  const cudaMemcpyKind kind = to_gpu && from_gpu ? cudaMemcpyDeviceToDevice
                              : to_gpu           ? cudaMemcpyHostToDevice
                                                 : cudaMemcpyDeviceToHost;
  MOE_CUDA_CHECK(cudaMemcpy(dst.raw_data(), src.raw_data(), bytes, kind));
}

}  // namespace moe::cuda
