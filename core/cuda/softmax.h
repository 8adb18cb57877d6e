#pragma once
// CUDA kernels of the softmax and loss family (core/backend/softmax.h documents each function).
// Plain C++ declarations, so every build sees them: without a kernel, or
// without CUDA, the definition is a stub that throws (core/cuda/stubs.cc);
// a kernel replaces its stub in core/cuda/softmax.cu.
#include <cstdint>

#include "core/tensor.h"

namespace moe::cuda {

void softmax_rows(const Tensor& x, const Tensor& y, int64_t rows, int64_t n, bool log);
void softmax_rows_backward(const Tensor& y, const Tensor& g, const Tensor& gx, int64_t rows, int64_t n,
                           bool log);
void first_bad_target(const Tensor& target, int64_t C, int64_t ignore, const Tensor& pos);
void cross_entropy_rows(const Tensor& x, const Tensor& target, int64_t ignore, const Tensor& loss,
                        const Tensor& stats, const Tensor& sums, int64_t rows, int64_t C);
void cross_entropy_rows_backward(const Tensor& x, const Tensor& target, const Tensor& stats, const Tensor& g,
                                 double scale, int64_t ignore, const Tensor& gx, int64_t rows, int64_t C);

}  // namespace moe::cuda
