#pragma once
#include "core/backend/reduce.h"
#include "core/tensor.h"

namespace moe::cpu {
using RowReduce = backend::RowReduce;
// x: contiguous, viewed as [rows, len]; out: contiguous with `rows` elements
// (x's dtype). Each row is reduced in a fixed order (f64 accumulation for
// sums, fixed 8192-element blocks for long rows) so results do not depend on
// the thread count.
void reduce_rows(RowReduce op, const Tensor& x, int64_t rows, int64_t len, const Tensor& out);
}  // namespace moe::cpu
