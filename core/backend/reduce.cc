#include "core/backend/reduce.h"

#include "core/backend/kernel_device.h"
#include "core/cpu/reduce.h"
#include "core/cpu/softmax.h"
#include "core/cuda/reduce.h"

namespace moe::backend {

void reduce_rows(RowReduce op, const Tensor& x, int64_t rows, int64_t len, const Tensor& out) {
  switch (kernel_device("reduce_rows", x, out)) {
    case DeviceType::cpu: return cpu::reduce_rows(op, x, rows, len, out);
    case DeviceType::cuda: return cuda::reduce_rows(op, x, rows, len, out);
  }
  unknown_device("reduce_rows", x.device().type);
}

void max_dim(const Tensor& x, const Tensor& values, const Tensor& indices, int64_t outer, int64_t n,
             int64_t inner) {
  switch (kernel_device("max_dim", x, values, indices)) {
    case DeviceType::cpu: return cpu::max_dim(x, values, indices, outer, n, inner);
    case DeviceType::cuda: return cuda::max_dim(x, values, indices, outer, n, inner);
  }
  unknown_device("max_dim", x.device().type);
}

void max_dim_backward(const Tensor& g, const Tensor& indices, const Tensor& gx, int64_t outer, int64_t n,
                      int64_t inner) {
  switch (kernel_device("max_dim_backward", g, indices, gx)) {
    case DeviceType::cpu: return cpu::max_dim_backward(g, indices, gx, outer, n, inner);
    case DeviceType::cuda: return cuda::max_dim_backward(g, indices, gx, outer, n, inner);
  }
  unknown_device("max_dim_backward", g.device().type);
}

void cumsum_dim(const Tensor& x, const Tensor& y, int64_t outer, int64_t n, int64_t inner, bool reverse) {
  switch (kernel_device("cumsum_dim", x, y)) {
    case DeviceType::cpu: return cpu::cumsum_dim(x, y, outer, n, inner, reverse);
    case DeviceType::cuda: return cuda::cumsum_dim(x, y, outer, n, inner, reverse);
  }
  unknown_device("cumsum_dim", x.device().type);
}

}  // namespace moe::backend
