#pragma once
// Kernels that work along one dim: softmax / log_softmax rows (forward and
// backward), fused cross-entropy rows, max with its index, and cumsum. All
// tensors are contiguous, in a compute dtype (f32/f64; max and cumsum also
// take i32/i64). Every row is reduced in a fixed order by one thread, so
// results do not depend on the thread count. f32 exps use a vectorisable
// Cephes expf (within 1 ulp; results below 2^-126 flush to 0).
#include "core/tensor.h"

namespace moe::cpu {

// x, y: [rows, n]. y = softmax(x) (log: log_softmax(x)) of each row, computed
// as exp(x - max) / sum and (x - max) - log(sum); sums accumulate in f64
// over 8 fixed interleaved lanes.
void softmax_rows(const Tensor& x, const Tensor& y, int64_t rows, int64_t n, bool log);
// From the forward output y and the output gradient g (all [rows, n]):
// softmax: gx = y * (g - sum(g * y)); log_softmax: gx = g - exp(y) * sum(g).
void softmax_rows_backward(const Tensor& y, const Tensor& g, const Tensor& gx, int64_t rows, int64_t n,
                           bool log);

// First flat position of `target` (i32/i64, contiguous) that holds neither a
// class in [0, C) nor `ignore`; -1 when all are valid.
int64_t first_bad_target(const Tensor& target, int64_t C, int64_t ignore);
struct CrossEntropyStats {
  double total = 0;   // sum of the row losses in f64, rows added in order
  int64_t count = 0;  // rows whose target is not `ignore`
};
// x: [rows, C] logits; target: [rows], all valid. loss[r] = logsumexp(x_r) -
// x_r[t_r]; stats [rows, 2] = (m, log(sum(exp(x_r - m)))) with m the row max,
// for the backward. Both 0 where t_r == ignore.
CrossEntropyStats cross_entropy_rows(const Tensor& x, const Tensor& target, int64_t ignore, const Tensor& loss,
                                     const Tensor& stats, int64_t rows, int64_t C);
// gx[r] = (softmax(x_r) - onehot(t_r)) * g_r * scale, 0 where t_r == ignore;
// g holds one value per row, or a single value for every row.
void cross_entropy_rows_backward(const Tensor& x, const Tensor& target, const Tensor& stats, const Tensor& g,
                                 double scale, int64_t ignore, const Tensor& gx, int64_t rows, int64_t C);

// The kernels below see x as [outer, n, inner] and work along n.
// values, indices (i64): [outer, inner]. The first maximum wins ties; a NaN
// beats every number (the first NaN is returned). n >= 1.
void max_dim(const Tensor& x, const Tensor& values, const Tensor& indices, int64_t outer, int64_t n,
             int64_t inner);
// gx [outer, n, inner] = g[o, i] at n-index indices[o, i], 0 elsewhere.
void max_dim_backward(const Tensor& g, const Tensor& indices, const Tensor& gx, int64_t outer, int64_t n,
                      int64_t inner);
// y = inclusive prefix sums of x along n (reverse: suffix sums, which is
// cumsum's backward). Accumulates in f64 (integers: i64).
void cumsum_dim(const Tensor& x, const Tensor& y, int64_t outer, int64_t n, int64_t inner, bool reverse);

}  // namespace moe::cpu
