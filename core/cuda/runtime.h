#pragma once
// CUDA runtime helpers. Only the runtime API (libcudart) is used; the driver
// library is never linked, so everything here loads on machines without one.
// With MOE_CUDA_SIM (-DMOE_CUDA=SIM) the runtime and the kernel language come
// from the host shim core/cuda/simt/simt.h instead.
#if defined(MOE_CUDA_SIM)
#include "core/cuda/simt/simt.h"
#else
#include <cuda_runtime_api.h>
#if defined(__CUDACC__)
#include <cuda_bf16.h>
#include <cuda_fp16.h>
// Kernel launches and dynamic shared memory, written the same way for nvcc and
// the SIM (core/cuda/simt/simt.h). A kernel name with commas goes in
// parentheses: MOE_LAUNCH((k<T, 4>), grid, block, smem, stream)(args...).
#define MOE_LAUNCH(kernel, grid, block, smem, stream) kernel<<<grid, block, smem, stream>>>
#define MOE_DYNAMIC_SHARED(T, name)                                 \
  extern __shared__ __align__(128) unsigned char moe_dynamic_smem_[]; \
  T* name = reinterpret_cast<T*>(moe_dynamic_smem_)
#endif
#endif

#include <cstddef>
#include <cstdint>

#include "core/device.h"
#include "core/error.h"

namespace moe {

// Blocks for a grid-stride loop over n elements, `block` threads each: enough
// to fill the current device (8 per SM; the SIM has one SM per host core),
// never more than the elements need, at least 1.
unsigned grid_stride_blocks(int64_t n, int block);
// Bytes of shared memory one block of the current device may use once the
// kernel opts in (cudaFuncAttributeMaxDynamicSharedMemorySize).
size_t max_shared_per_block();

namespace detail {
[[noreturn]] void cuda_fail(cudaError_t err, const char* expr, const char* file, int line);
}  // namespace detail

}  // namespace moe

// MOE_CUDA_CHECK(call): throws moe::Error naming the call and the CUDA error.
#define MOE_CUDA_CHECK(expr)                                                     \
  do {                                                                           \
    const cudaError_t moe_cuda_err_ = (expr);                                    \
    if (moe_cuda_err_ != cudaSuccess)                                            \
      ::moe::detail::cuda_fail(moe_cuda_err_, #expr, __FILE__, __LINE__);        \
  } while (0)
