#pragma once
// CUDA runtime helpers. Only the runtime API (libcudart) is used; the driver
// library is never linked, so everything here loads on machines without one.
#include <cuda_runtime_api.h>

#include "core/error.h"

namespace moe {

// Number of usable CUDA devices; 0 when there is no driver or no device (the
// error this leaves in the runtime is cleared).
int cuda_device_count();

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
