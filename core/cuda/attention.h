#pragma once
// CUDA kernels of the attention family (core/backend/attention.h documents each function).
// Plain C++ declarations, so every build sees them: without a kernel, or
// without CUDA, the definition is a stub that throws (core/cuda/stubs.cc);
// a kernel replaces its stub in core/cuda/attention.cu.
#include <cstdint>

#include "core/tensor.h"

namespace moe::cuda {

void attention_fwd(const Tensor& q, const Tensor& k, const Tensor& v, double scale, int64_t window,
                   const Tensor& out, const Tensor& lse);
void attention_bwd(const Tensor& g, const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out,
                   const Tensor& lse, double scale, int64_t window, const Tensor& dq, const Tensor& dk,
                   const Tensor& dv);
void attention_max_logits(const Tensor& q, const Tensor& k, double scale, int64_t window, const Tensor& out);

}  // namespace moe::cuda
