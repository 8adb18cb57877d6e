#include "core/backend/gemm.h"

#include "core/backend/kernel_device.h"
#include "core/cpu/gemm.h"
#include "core/cuda/gemm.h"

namespace moe::backend {

void matmul(const Tensor& a, const Tensor& b, const Tensor& out, MatmulPrecision precision) {
  switch (kernel_device("matmul", a, b, out)) {
    case DeviceType::cpu: return cpu::matmul(a, b, out, precision);
    case DeviceType::cuda: return cuda::matmul(a, b, out, precision);
  }
  unknown_device("matmul", a.device().type);
}

void matmul_each(const std::vector<MatmulJob>& jobs, MatmulPrecision precision) {
  if (jobs.empty()) return;
  const Tensor& first = jobs[0].a;
  for (const MatmulJob& j : jobs) kernel_device("matmul_each", first, j.a, j.b, j.out);
  switch (first.device().type) {
    case DeviceType::cpu: return cpu::matmul_each(jobs, precision);
    case DeviceType::cuda: return cuda::matmul_each(jobs, precision);
  }
  unknown_device("matmul_each", first.device().type);
}

}  // namespace moe::backend
