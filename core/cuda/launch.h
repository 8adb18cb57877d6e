#pragma once
// Host-side helpers of our kernels: the block size, the strided-operand
// index of a launch and the guard that makes a tensor's GPU current.
#include <array>

#include "core/cuda/runtime.h"
#include "core/kernels/strided_index.h"
#include "core/tensor.h"

namespace moe::cuda {

constexpr int kBlock = 256;

// Makes device `index` current for the guard's lifetime.
class DeviceGuard {
 public:
  explicit DeviceGuard(const Tensor& t);
  ~DeviceGuard();
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_ = -1;
};

// The index of N operands with `strides` over `shape`; dims of size 1 are
// dropped. More than math::kMaxIndexDims others: an error naming `op`.
template <int N>
math::StridedIndex<N> strided_index(const char* op, const Shape& shape, const std::array<Shape, N>& strides) {
  math::StridedIndex<N> ix;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    MOE_CHECK(ix.ndim < math::kMaxIndexDims, op, ": CUDA kernels take up to ", math::kMaxIndexDims,
              " dims of size > 1, got shape ", shape_str(shape));
    ix.size[ix.ndim] = shape[d];
    for (int k = 0; k < N; ++k) ix.stride[k][ix.ndim] = strides[size_t(k)][d];
    ++ix.ndim;
  }
  return ix;
}

}  // namespace moe::cuda
