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
// A device attribute, asked once per device: a launch should not pay a driver
// query. `known` holds one slot per device (0 = not asked yet).
int cached_attribute(cudaDeviceAttr attr, std::atomic<int> (&known)[64]) {
  int device = 0;
  MOE_CUDA_CHECK(cudaGetDevice(&device));
  int value = device >= 0 && device < 64 ? known[device].load(std::memory_order_relaxed) : 0;
  if (value == 0) {
    MOE_CUDA_CHECK(cudaDeviceGetAttribute(&value, attr, device));
    if (device >= 0 && device < 64) known[device].store(value, std::memory_order_relaxed);
  }
  return value;
}
}  // namespace

unsigned grid_stride_blocks(int64_t n, int block) {
  static std::atomic<int> known[64];
  const int sms = cached_attribute(cudaDevAttrMultiProcessorCount, known);
  const int64_t need = (n + block - 1) / block;
  return unsigned(std::clamp<int64_t>(need, 1, int64_t(sms) * 8));
}

size_t max_shared_per_block() {
  static std::atomic<int> known[64];
  return size_t(cached_attribute(cudaDevAttrMaxSharedMemoryPerBlockOptin, known));
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
