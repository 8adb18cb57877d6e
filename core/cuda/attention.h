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

// The tile side (query rows or keys per block: 64, 32 or 16) each attention
// kernel takes on the current device for these head dims; what fits its
// shared memory. Throws when even 16 does not fit.
struct AttentionTiles {
  int fwd, dq, dkv;
};
AttentionTiles attention_tiles(DType dtype, int64_t Dh, int64_t Dv);

}  // namespace moe::cuda
