#pragma once
// CUDA kernels of the reduction family (core/backend/reduce.h documents each function).
// Plain C++ declarations, so every build sees them: without a kernel, or
// without CUDA, the definition is a stub that throws (core/cuda/stubs.cc);
// a kernel replaces its stub in core/cuda/reduce.cu.
#include <cstdint>

#include "core/backend/reduce.h"
#include "core/tensor.h"

namespace moe::cuda {

void reduce_rows(backend::RowReduce op, const Tensor& x, int64_t rows, int64_t len, const Tensor& out);
void max_dim(const Tensor& x, const Tensor& values, const Tensor& indices, int64_t outer, int64_t n,
             int64_t inner);
void max_dim_backward(const Tensor& g, const Tensor& indices, const Tensor& gx, int64_t outer, int64_t n,
                      int64_t inner);
void cumsum_dim(const Tensor& x, const Tensor& y, int64_t outer, int64_t n, int64_t inner, bool reverse);

}  // namespace moe::cuda
