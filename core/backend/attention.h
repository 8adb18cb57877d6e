#pragma once
// Attention family: causal (optionally windowed) attention with GQA, forward
// and backward, and the max-logit statistic of QK-Clip. Kernels:
// core/cpu/nn.h (core/cpu/attention.cc), core/cuda/attention.h. Tensors are
// contiguous, one compute dtype (f32/f64).
#include <cstdint>

#include "core/tensor.h"

namespace moe::backend {

// q [B, T, H, Dh], k [B, T, Hkv, Dh], v [B, T, Hkv, Dv], out [B, T, H, Dv];
// lse [B, H, T] gets each row's log-sum-exp of the scaled scores.
void attention_fwd(const Tensor& q, const Tensor& k, const Tensor& v, double scale, int64_t window,
                   const Tensor& out, const Tensor& lse);
// g = dL/dout; dq, dk, dv shaped like q, k, v.
void attention_bwd(const Tensor& g, const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out,
                   const Tensor& lse, double scale, int64_t window, const Tensor& dq, const Tensor& dk,
                   const Tensor& dv);
// out [B, H] = max over the causal window of the scaled logits q_i . k_j of
// each (batch, query head).
void attention_max_logits(const Tensor& q, const Tensor& k, double scale, int64_t window, const Tensor& out);

}  // namespace moe::backend
