#include "core/cuda/runtime.h"

#include <algorithm>
#include <string>

namespace moe {

int cuda_device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    (void)cudaGetLastError();  // clear the sticky-free error so later calls start clean
    return 0;
  }
  return n;
}

unsigned grid_stride_blocks(int64_t n, int block) {
  int device = 0, sms = 0;
  MOE_CUDA_CHECK(cudaGetDevice(&device));
  MOE_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
  const int64_t need = (n + block - 1) / block;
  return unsigned(std::clamp<int64_t>(need, 1, int64_t(sms) * 8));
}

namespace detail {
void cuda_fail(cudaError_t err, const char* expr, const char* file, int line) {
  std::string detail;
#if defined(MOE_CUDA_SIM)
  detail = moe::simt::error_detail(err);  // what the shim saw: the bad launch, the kernel fault
  if (!detail.empty()) detail = " (" + detail + ")";
#endif
  throw Error(std::string(expr) + ": CUDA error " + cudaGetErrorName(err) + ": " + cudaGetErrorString(err) + detail +
              " [" + file + ":" + std::to_string(line) + "]");
}
}  // namespace detail

}  // namespace moe
