#include "core/backend/gemm.h"

#include <algorithm>

#include "core/backend/kernel_device.h"
#include "core/cpu/gemm.h"
#include "core/cuda/gemm.h"

namespace moe::backend {

std::optional<BlasLayout> blas_layout(const Tensor& t) {
  const size_t nd = size_t(t.dim());
  const int64_t rows = t.shape()[nd - 2], cols = t.shape()[nd - 1];
  const int64_t rs = t.strides()[nd - 2], cs = t.strides()[nd - 1];
  if ((cols == 1 || cs == 1) && (rows == 1 || rs >= std::max<int64_t>(cols, 1)))
    return BlasLayout{false, rows == 1 ? std::max<int64_t>(cols, 1) : rs};
  if ((rows == 1 || rs == 1) && (cols == 1 || cs >= std::max<int64_t>(rows, 1)))
    return BlasLayout{true, cols == 1 ? std::max<int64_t>(rows, 1) : cs};
  return std::nullopt;
}

Shape batch_strides(const Tensor& t, const Shape& batch) {
  Shape s(batch.size(), 0);
  const int64_t lead = int64_t(batch.size()) - (t.dim() - 2);
  for (int64_t i = 0; i + 2 < t.dim(); ++i)
    s[size_t(lead + i)] = t.shape()[size_t(i)] == 1 ? 0 : t.strides()[size_t(i)];
  return s;
}

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
