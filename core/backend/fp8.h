#pragma once
// FP8 family: the three GEMMs of an FP8 linear layer y = x w, each its two
// operands quantised per the recipe and multiplied (core/fp8/linear.h).
// CPU: the exact emulation of core/fp8/; CUDA: core/cuda/fp8.h. x [M, K],
// w [K, N], dy [M, N]: contiguous f32; results contiguous f32.
#include "core/fp8/linear.h"
#include "core/tensor.h"

namespace moe::backend {

Tensor fp8_fprop(const Tensor& x, const Tensor& w, const fp8::GemmRecipe& r, const fp8::ScaleSource& s);   // x w
Tensor fp8_dgrad(const Tensor& dy, const Tensor& w, const fp8::GemmRecipe& r, const fp8::ScaleSource& s);  // dy w^T
Tensor fp8_wgrad(const Tensor& x, const Tensor& dy, const fp8::GemmRecipe& r, const fp8::ScaleSource& s);  // x^T dy

}  // namespace moe::backend
