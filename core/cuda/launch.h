#pragma once
// Host-side helpers of our kernels: the block size, the strided-operand
// index of a launch (launches go to cuda::current_stream(), and
// cuda::DeviceGuard makes a tensor's GPU current: core/cuda/context.h).
#include <algorithm>
#include <array>

#include "core/cuda/context.h"
#include "core/cuda/runtime.h"
#include "core/kernels/strided_index.h"
#include "core/tensor.h"

namespace moe::cuda {

constexpr int kBlock = 256;

// A grid-stride loop of a kernel over [0, n): every thread of the grid
// takes i, i + gridDim.x * blockDim.x, ...
#define MOE_GRID_STRIDE(i, n) \
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < (n); i += int64_t(gridDim.x) * blockDim.x)

// Blocks of a one-block-per-row kernel (which loops over rows beyond it).
inline unsigned row_grid(int64_t rows) { return unsigned(std::min<int64_t>(std::max<int64_t>(rows, 1), 65535)); }

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
