#pragma once
// CUDA kernels of the FP8 family (core/backend/fp8.h documents each function).
// Plain C++ declarations, so every build sees them: without a kernel, or
// without CUDA, the definition is a stub that throws (core/cuda/stubs.cc);
// a kernel replaces its stub in core/cuda/fp8.cu.
#include "core/fp8/linear.h"
#include "core/tensor.h"

namespace moe::cuda {

Tensor fp8_fprop(const Tensor& x, const Tensor& w, const fp8::GemmRecipe& r, const fp8::ScaleSource& s);
Tensor fp8_dgrad(const Tensor& dy, const Tensor& w, const fp8::GemmRecipe& r, const fp8::ScaleSource& s);
Tensor fp8_wgrad(const Tensor& x, const Tensor& dy, const fp8::GemmRecipe& r, const fp8::ScaleSource& s);
Tensor fp8_fprop_codes(const fp8::QuantizedTensor& xq, const Tensor& w, const fp8::GemmRecipe& r,
                       const fp8::ScaleSource& s);

fp8::QuantizedTensor fp8_quantize(const Tensor& x, fp8::Format f, fp8::Layout l, fp8::ScaleRounding r, bool transpose);
fp8::QuantizedTensor fp8_quantize_with_scale(const Tensor& x, fp8::Format f, float scale, bool transpose);

}  // namespace moe::cuda
