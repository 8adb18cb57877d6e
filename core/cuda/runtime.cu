#include "core/cuda/runtime.h"

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

namespace detail {
void cuda_fail(cudaError_t err, const char* expr, const char* file, int line) {
  throw Error(std::string(expr) + ": CUDA error " + cudaGetErrorName(err) + ": " + cudaGetErrorString(err) +
              " [" + file + ":" + std::to_string(line) + "]");
}
}  // namespace detail

}  // namespace moe
