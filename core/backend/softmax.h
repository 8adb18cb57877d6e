#pragma once
// Softmax and loss family: softmax / log_softmax rows and the fused
// cross-entropy rows, forward and backward. Kernels: core/cpu/softmax.h,
// core/cuda/softmax.h. All tensors contiguous, in a compute dtype (f32/f64)
// unless noted; rows are [rows, n] (or [rows, C]).
#include <cstdint>

#include "core/tensor.h"

namespace moe::backend {

// y = softmax(x) (log: log_softmax(x)) of each row, as exp(x - max) / sum
// and (x - max) - log(sum).
void softmax_rows(const Tensor& x, const Tensor& y, int64_t rows, int64_t n, bool log);
// From the forward output y and the output gradient g: softmax:
// gx = y * (g - sum(g * y)); log_softmax: gx = g - exp(y) * sum(g).
void softmax_rows_backward(const Tensor& y, const Tensor& g, const Tensor& gx, int64_t rows, int64_t n,
                           bool log);

// pos (0-d i64, target's device) = the first flat position of `target`
// (i32/i64) holding neither a class in [0, C) nor `ignore`, or -1.
void first_bad_target(const Tensor& target, int64_t C, int64_t ignore, const Tensor& pos);
// x: [rows, C] logits; target: [rows], all valid. loss[r] = logsumexp(x_r) -
// x_r[t_r]; stats [rows, 2] = (m, log(sum(exp(x_r - m)))) with m the row
// max, for the backward; both 0 where t_r == ignore. sums (f64 [2]) =
// (sum of the row losses, added in row order in f64; number of rows whose
// target is not `ignore`).
void cross_entropy_rows(const Tensor& x, const Tensor& target, int64_t ignore, const Tensor& loss,
                        const Tensor& stats, const Tensor& sums, int64_t rows, int64_t C);
// gx[r] = (softmax(x_r) - onehot(t_r)) * g_r * scale, 0 where t_r == ignore;
// g holds one value per row, or a single value for every row.
void cross_entropy_rows_backward(const Tensor& x, const Tensor& target, const Tensor& stats, const Tensor& g,
                                 double scale, int64_t ignore, const Tensor& gx, int64_t rows, int64_t C);

}  // namespace moe::backend
