#include "core/cuda/runtime.h"

#include <algorithm>
#include <atomic>
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

namespace {
// SM counts per device, asked once: a launch should not pay a driver query.
int multiprocessors(int device) {
  constexpr int kDevices = 64;
  static std::atomic<int> known[kDevices];
  if (device < 0 || device >= kDevices) {
    int sms = 0;
    MOE_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
    return sms;
  }
  int sms = known[device].load(std::memory_order_relaxed);
  if (sms == 0) {
    MOE_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
    known[device].store(sms, std::memory_order_relaxed);
  }
  return sms;
}
}  // namespace

unsigned grid_stride_blocks(int64_t n, int block) {
  int device = 0;
  MOE_CUDA_CHECK(cudaGetDevice(&device));
  const int sms = multiprocessors(device);
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
