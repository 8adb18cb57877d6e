#pragma once
// Device helpers of the row kernels (one block per row): a block-wide
// reduction in a fixed tree order, so a result depends only on the values
// and the block size, never on timing.
#include <cmath>

#include "core/cuda/runtime.h"
#include "core/hd.h"

namespace moe::cuda {

struct SumOp {
  template <typename T>
  MOE_HD T operator()(T a, T b) const { return a + b; }
};
// The larger; NaNs are skipped (softmax's row max: a NaN then spreads
// through the exps instead).
struct MaxSkipNanOp {
  template <typename T>
  MOE_HD T operator()(T a, T b) const { return b > a ? b : a; }
};
// The larger; a NaN wins.
struct MaxNanOp {
  template <typename T>
  MOE_HD T operator()(T a, T b) const { return (a != a || a >= b) ? a : b; }
};
struct MinOp {
  template <typename T>
  MOE_HD T operator()(T a, T b) const { return b < a ? b : a; }
};

// Every thread of the block (blockDim.x a power of two, at most kSlots)
// passes its partial; every thread gets the block's result. `s` is shared
// memory of blockDim.x elements, free again on return.
template <typename T, typename Op>
__device__ T block_reduce(T v, Op op, T* s) {
  const unsigned t = threadIdx.x;
  s[t] = v;
  __syncthreads();
  for (unsigned stride = blockDim.x / 2; stride > 0; stride >>= 1) {
    if (t < stride) s[t] = op(s[t], s[t + stride]);
    __syncthreads();
  }
  const T r = s[0];
  __syncthreads();
  return r;
}

}  // namespace moe::cuda
