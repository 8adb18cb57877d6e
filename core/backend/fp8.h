#pragma once
// FP8 family: the three GEMMs of an FP8 linear layer y = x w, each its two
// operands quantised per the recipe and multiplied (core/fp8/linear.h), and
// the quantisers themselves on tensors.
// CPU: the exact emulation of core/fp8/; CUDA: core/cuda/fp8.h. x [M, K],
// w [K, N], dy [M, N]: contiguous f32; results contiguous f32.
#include <string>

#include "core/fp8/linear.h"
#include "core/tensor.h"

namespace moe::backend {

Tensor fp8_fprop(const Tensor& x, const Tensor& w, const fp8::GemmRecipe& r, const fp8::ScaleSource& s);   // x w
Tensor fp8_dgrad(const Tensor& dy, const Tensor& w, const fp8::GemmRecipe& r, const fp8::ScaleSource& s);  // dy w^T
Tensor fp8_wgrad(const Tensor& x, const Tensor& dy, const fp8::GemmRecipe& r, const fp8::ScaleSource& s);  // x^T dy
// fprop on codes already made: xq [M, K] E4M3 in 1x128 tiles (rows x cols,
// scales [M * ceil(K / 128)]) on w's device; only w is quantised.
Tensor fp8_fprop_codes(const fp8::QuantizedTensor& xq, const Tensor& w, const fp8::GemmRecipe& r,
                       const fp8::ScaleSource& s);

// Current scaling of x (f32, contiguous, viewed as [numel / last, last]) in
// layout l, on x's device: fp8::quantize's codes and scales bit for bit. With
// `transpose` the result is fp8::transposed of that: the tiles are x's, the
// codes [cols, rows] (the weight-gradient GEMM's K-major operand). A CPU
// quantise throws on an inf/NaN in x at once; a CUDA one does not wait for
// the device: its amax is then non-finite, and fp8_check_finite throws the
// same error.
fp8::QuantizedTensor fp8_quantize(const Tensor& x, fp8::Format f, fp8::Layout l, fp8::ScaleRounding r, bool transpose,
                                  const std::string& name = "x");
// Per-tensor with a given scale (delayed scaling): fp8::quantize_with_scale.
fp8::QuantizedTensor fp8_quantize_with_scale(const Tensor& x, fp8::Format f, float scale, bool transpose,
                                             const std::string& name = "x");
// Throws fp8::quantize's error for x (naming `name` and the [row, col] of
// its first non-finite value) when q, quantised from x, saw one. Reads
// q.amax: on a GPU a wait for the device.
void fp8_check_finite(const fp8::QuantizedTensor& q, const Tensor& x, const std::string& name = "x");

}  // namespace moe::backend
