#pragma once
// Device helpers of the row kernels (one block per row): a block-wide
// reduction in a fixed tree order, so a result depends only on the values
// and the block size, never on timing.
#include <cmath>
#include <cstdint>

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

// The first position in [0, n) where pred(i) holds, or -1: the range checks
// of index tensors (one block; every thread calls it and gets the answer).
template <typename Pred>
__device__ int64_t first_where(int64_t n, Pred pred, int64_t* s) {
  int64_t first = INT64_MAX;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x)
    if (i < first && pred(i)) first = i;
  first = block_reduce(first, MinOp(), s);
  return first == INT64_MAX ? -1 : first;
}

}  // namespace moe::cuda
