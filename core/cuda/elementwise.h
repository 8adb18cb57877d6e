#pragma once
// CUDA kernels of the elementwise family (core/backend/elementwise.h documents each function).
// Plain C++ declarations, so every build sees them: without a kernel, or
// without CUDA, the definition is a stub that throws (core/cuda/stubs.cc);
// a kernel replaces its stub in core/cuda/elementwise.cu.
#include "core/kernels/elementwise_math.h"
#include "core/tensor.h"

namespace moe::cuda {

void unary(math::Unary op, const Tensor& x, double p, const Tensor& out);
void binary(math::Binary op, const Tensor& a, const Tensor& b, const Tensor& out);
void swiglu(const Tensor& gate, const Tensor& up, const Tensor& out);
void swiglu_backward(const Tensor& g, const Tensor& gate, const Tensor& up, const Tensor& dgate, const Tensor& dup);
void where(const Tensor& cond, const Tensor& a, const Tensor& b, const Tensor& out);

}  // namespace moe::cuda
