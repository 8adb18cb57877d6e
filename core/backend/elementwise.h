#pragma once
// Elementwise family: unary and binary maps (with broadcasting), SwiGLU's
// fused product and where. Kernels: core/cpu/elementwise.h,
// core/cuda/elementwise.h; the per-element formulas of both are
// core/kernels/elementwise_math.h.
#include "core/kernels/elementwise_math.h"
#include "core/tensor.h"

namespace moe::backend {

// out = op(x, p); x any strides, out contiguous with x's shape; one dtype
// (f32/f64).
void unary(math::Unary op, const Tensor& x, double p, const Tensor& out);
// out = op(a, b) with a, b broadcast to out's shape. Comparisons may write
// into a bool `out`; otherwise out has the operands' dtype.
void binary(math::Binary op, const Tensor& a, const Tensor& b, const Tensor& out);
// out = silu(gate) * up; backward: dgate = g * up * silu'(gate),
// dup = g * silu(gate). All contiguous, one shape, one dtype (f32/f64).
void swiglu(const Tensor& gate, const Tensor& up, const Tensor& out);
void swiglu_backward(const Tensor& g, const Tensor& gate, const Tensor& up, const Tensor& dgate, const Tensor& dup);
// out = cond ? a : b (cond bool), all broadcast to out's shape.
void where(const Tensor& cond, const Tensor& a, const Tensor& b, const Tensor& out);

}  // namespace moe::backend
