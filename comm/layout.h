#pragma once
// Tensor reshuffles around the collectives: MPI gathers and scatters along
// the leading dim of a contiguous buffer, so a collective along dim d moves
// d to the front, runs, and moves it back.
#include <cstdint>

#include "core/tensor.h"

namespace moe::comm {

// Contiguous copy of x with dim d first, the other dims in order (x itself
// when d == 0 and x is contiguous).
Tensor dim_to_front(const Tensor& x, int64_t d);
// Inverse of dim_to_front: y's leading dim becomes dim d (contiguous).
Tensor front_to_dim(const Tensor& y, int64_t d);
// t /= n elementwise, in place (ReduceOp::avg); integers use C++ integer
// division (truncation toward zero).
void divide_in_place(Tensor& t, int64_t n);
// Product of the dims after the first (elements per row).
int64_t row_numel(const Tensor& x);

}  // namespace moe::comm
