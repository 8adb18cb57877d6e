#include "core/backend/softmax.h"

#include "core/backend/kernel_device.h"
#include "core/cpu/softmax.h"
#include "core/cuda/softmax.h"

namespace moe::backend {

void softmax_rows(const Tensor& x, const Tensor& y, int64_t rows, int64_t n, bool log) {
  switch (kernel_device("softmax_rows", x, y)) {
    case DeviceType::cpu: return cpu::softmax_rows(x, y, rows, n, log);
    case DeviceType::cuda: return cuda::softmax_rows(x, y, rows, n, log);
  }
  unknown_device("softmax_rows", x.device().type);
}

void softmax_rows_backward(const Tensor& y, const Tensor& g, const Tensor& gx, int64_t rows, int64_t n,
                           bool log) {
  switch (kernel_device("softmax_rows_backward", y, g, gx)) {
    case DeviceType::cpu: return cpu::softmax_rows_backward(y, g, gx, rows, n, log);
    case DeviceType::cuda: return cuda::softmax_rows_backward(y, g, gx, rows, n, log);
  }
  unknown_device("softmax_rows_backward", y.device().type);
}

void first_bad_target(const Tensor& target, int64_t C, int64_t ignore, const Tensor& pos) {
  MOE_CHECK(pos.dim() == 0 && pos.dtype() == DType::i64, "backend first_bad_target: pos must be a 0-d i64, got ",
            pos.str());
  switch (kernel_device("first_bad_target", target, pos)) {
    case DeviceType::cpu: *pos.data<int64_t>() = cpu::first_bad_target(target, C, ignore); return;
    case DeviceType::cuda: return cuda::first_bad_target(target, C, ignore, pos);
  }
  unknown_device("first_bad_target", target.device().type);
}

void cross_entropy_rows(const Tensor& x, const Tensor& target, int64_t ignore, const Tensor& loss,
                        const Tensor& stats, const Tensor& sums, int64_t rows, int64_t C) {
  MOE_CHECK(sums.dtype() == DType::f64 && sums.numel() == 2 && sums.is_contiguous(),
            "backend cross_entropy_rows: sums must be a contiguous f64 [2], got ", sums.str());
  switch (kernel_device("cross_entropy_rows", x, target, loss, stats, sums)) {
    case DeviceType::cpu: {
      const cpu::CrossEntropyStats st = cpu::cross_entropy_rows(x, target, ignore, loss, stats, rows, C);
      double* s = sums.data<double>();
      s[0] = st.total;
      s[1] = double(st.count);
      return;
    }
    case DeviceType::cuda: return cuda::cross_entropy_rows(x, target, ignore, loss, stats, sums, rows, C);
  }
  unknown_device("cross_entropy_rows", x.device().type);
}

void cross_entropy_rows_backward(const Tensor& x, const Tensor& target, const Tensor& stats, const Tensor& g,
                                 double scale, int64_t ignore, const Tensor& gx, int64_t rows, int64_t C) {
  switch (kernel_device("cross_entropy_rows_backward", x, target, stats, g, gx)) {
    case DeviceType::cpu: return cpu::cross_entropy_rows_backward(x, target, stats, g, scale, ignore, gx, rows, C);
    case DeviceType::cuda:
      return cuda::cross_entropy_rows_backward(x, target, stats, g, scale, ignore, gx, rows, C);
  }
  unknown_device("cross_entropy_rows_backward", x.device().type);
}

}  // namespace moe::backend
