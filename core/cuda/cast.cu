#include "core/cuda/cast.h"

#include "core/dtype_convert.h"

namespace moe::cuda {
namespace {

// Code type and per-element conversions of each narrow format.
template <DType T> struct Narrow;
template <> struct Narrow<DType::bf16> {
  using Code = uint16_t;
  static MOE_HD Code enc(float x, bool) { return fp::f32_to_bf16(x); }
  static MOE_HD float dec(Code c) { return fp::bf16_to_f32(c); }
};
template <> struct Narrow<DType::f16> {
  using Code = uint16_t;
  static MOE_HD Code enc(float x, bool) { return fp::f32_to_f16(x); }
  static MOE_HD float dec(Code c) { return fp::f16_to_f32(c); }
};
template <> struct Narrow<DType::f8e4m3> {
  using Code = uint8_t;
  static MOE_HD Code enc(float x, bool sat) { return fp::f32_to_e4m3(x, sat); }
  static MOE_HD float dec(Code c) { return fp::e4m3_to_f32(c); }
};
template <> struct Narrow<DType::f8e5m2> {
  using Code = uint8_t;
  static MOE_HD Code enc(float x, bool sat) { return fp::f32_to_e5m2(x, sat); }
  static MOE_HD float dec(Code c) { return fp::e5m2_to_f32(c); }
};

template <DType T>
__global__ void encode_kernel(const float* __restrict__ src, typename Narrow<T>::Code* __restrict__ dst,
                              int64_t n, bool saturate) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    dst[i] = Narrow<T>::enc(src[i], saturate);
}

template <DType T>
__global__ void decode_kernel(const typename Narrow<T>::Code* __restrict__ src, float* __restrict__ dst,
                              int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    dst[i] = Narrow<T>::dec(src[i]);
}

constexpr int kBlock = 256;
unsigned grid_for(int64_t n) { return grid_stride_blocks(n, kBlock); }

template <DType T>
void encode(const float* src, void* dst, int64_t n, bool saturate, cudaStream_t stream) {
  MOE_LAUNCH(encode_kernel<T>, grid_for(n), kBlock, 0, stream)(src, static_cast<typename Narrow<T>::Code*>(dst), n,
                                                                saturate);
}
template <DType T>
void decode(const void* src, float* dst, int64_t n, cudaStream_t stream) {
  MOE_LAUNCH(decode_kernel<T>, grid_for(n), kBlock, 0, stream)(static_cast<const typename Narrow<T>::Code*>(src), dst,
                                                                n);
}

}  // namespace

void cast_from_f32(const float* src, void* dst, int64_t n, DType to, bool saturate, cudaStream_t stream) {
  if (n <= 0) return;
  switch (to) {
    case DType::bf16: encode<DType::bf16>(src, dst, n, saturate, stream); break;
    case DType::f16: encode<DType::f16>(src, dst, n, saturate, stream); break;
    case DType::f8e4m3: encode<DType::f8e4m3>(src, dst, n, saturate, stream); break;
    case DType::f8e5m2: encode<DType::f8e5m2>(src, dst, n, saturate, stream); break;
    default: MOE_CHECK(false, "cuda::cast_from_f32: unsupported target dtype ", to);
  }
  MOE_CUDA_CHECK(cudaGetLastError());
}

void cast_to_f32(const void* src, float* dst, int64_t n, DType from, cudaStream_t stream) {
  if (n <= 0) return;
  switch (from) {
    case DType::bf16: decode<DType::bf16>(src, dst, n, stream); break;
    case DType::f16: decode<DType::f16>(src, dst, n, stream); break;
    case DType::f8e4m3: decode<DType::f8e4m3>(src, dst, n, stream); break;
    case DType::f8e5m2: decode<DType::f8e5m2>(src, dst, n, stream); break;
    default: MOE_CHECK(false, "cuda::cast_to_f32: unsupported source dtype ", from);
  }
  MOE_CUDA_CHECK(cudaGetLastError());
}

}  // namespace moe::cuda
