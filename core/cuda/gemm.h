#pragma once
// CUDA kernels of the GEMM family (core/backend/gemm.h documents each function).
// Plain C++ declarations, so every build sees them: without a kernel, or
// without CUDA, the definition is a stub that throws (core/cuda/stubs.cc);
// a kernel replaces its stub in core/cuda/gemm.cu.
#include <vector>

#include "core/backend/gemm.h"
#include "core/matmul_precision.h"
#include "core/tensor.h"

namespace moe::cuda {

void matmul(const Tensor& a, const Tensor& b, const Tensor& out, MatmulPrecision precision);
void matmul_each(const std::vector<backend::MatmulJob>& jobs, MatmulPrecision precision);

}  // namespace moe::cuda
