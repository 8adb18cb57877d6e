#pragma once
// Reduction family: sums and maxima of rows, max with its index along a dim,
// and prefix sums. Kernels: core/cpu/reduce.h and core/cpu/softmax.h (max,
// cumsum), core/cuda/reduce.h. Results must not depend on how the work is
// split (fixed summation orders).
#include <cstdint>

#include "core/tensor.h"

namespace moe::backend {

enum class RowReduce { sum, max, sum_squares };
// x: contiguous, viewed as [rows, len] (len >= 1); out: contiguous with
// `rows` elements, x's dtype (f32/f64), f64 for sum_squares (the squares
// taken and summed in f64). Sums accumulate in f64.
void reduce_rows(RowReduce op, const Tensor& x, int64_t rows, int64_t len, const Tensor& out);

// The functions below see x as [outer, n, inner] and work along n; all
// tensors contiguous, f32/f64 or (max, cumsum) i32/i64.
// values, indices (i64): [outer, inner]. The first maximum wins ties; a NaN
// beats every number (the first NaN is returned). n >= 1.
void max_dim(const Tensor& x, const Tensor& values, const Tensor& indices, int64_t outer, int64_t n,
             int64_t inner);
// gx [outer, n, inner] = g[o, i] at n-index indices[o, i], 0 elsewhere.
void max_dim_backward(const Tensor& g, const Tensor& indices, const Tensor& gx, int64_t outer, int64_t n,
                      int64_t inner);
// y = inclusive prefix sums of x along n (reverse: suffix sums, cumsum's
// backward). Accumulates in f64 (integers: i64).
void cumsum_dim(const Tensor& x, const Tensor& y, int64_t outer, int64_t n, int64_t inner, bool reverse);

}  // namespace moe::backend
