#pragma once
// CPU kernels of the neural-network ops (core/ops/nn.cc). Unless noted, every
// tensor is contiguous and floating tensors share one compute dtype (f32 or
// f64). Every output element is written by one thread in a fixed order, and
// cross-row sums are taken in fixed blocks, so results do not depend on the
// thread count.
#include <cstdint>

#include "core/kernels/route_math.h"
#include "core/tensor.h"

namespace moe::cpu {

// x, out [R, D]; w [D]; rstd [R] gets 1/sqrt(mean(x^2) + eps) per row.
void rms_norm_fwd(const Tensor& x, const Tensor& w, double eps, const Tensor& out, const Tensor& rstd);
// g, x, dx [R, D]; dw [D] (skipped when undefined) = sum over rows of g * x * rstd.
void rms_norm_bwd(const Tensor& g, const Tensor& x, const Tensor& w, const Tensor& rstd, const Tensor& dx,
                  const Tensor& dw);

// x, out [B, T, H, Dh]: the first rot_dim dims rotated by (offset + t) * theta_i,
// by minus that angle when inverse (the backward); the rest copied.
void rope(const Tensor& x, double base, bool interleaved, int64_t offset, int64_t rot_dim, bool inverse,
          const Tensor& out);

// q [B, T, H, Dh], k [B, T, Hkv, Dh], v [B, T, Hkv, Dv], out [B, T, H, Dv];
// lse [B, H, T] gets each row's log-sum-exp of the scaled scores.
void attention_fwd(const Tensor& q, const Tensor& k, const Tensor& v, double scale, int64_t window,
                   const Tensor& out, const Tensor& lse);
// g = dL/dout; dq, dk, dv shaped like q, k, v.
void attention_bwd(const Tensor& g, const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out,
                   const Tensor& lse, double scale, int64_t window, const Tensor& dq, const Tensor& dk,
                   const Tensor& dv);

// out [B, H] = max over the causal window of the scaled logits q_i . k_j of
// each (batch, query head): what QK-Clip watches.
void attention_max_logits(const Tensor& q, const Tensor& k, double scale, int64_t window, const Tensor& out);

// Flat position of the first id outside [0, V) in ids (i32/i64), or -1.
int64_t embedding_first_bad(const Tensor& ids, int64_t V);
// out [N, D] = rows of w [V, D] (any dtype; w needs unit column stride only).
void embedding_fwd(const Tensor& w, const Tensor& ids, const Tensor& out);
// dw [V, D] (zero-filled) += g [N, D] scattered by ids.
void embedding_bwd(const Tensor& g, const Tensor& ids, const Tensor& dw);

// out = x with element i dropped when philox::uniform(seed, stream, i) < p,
// the rest divided by 1 - p.
void dropout(const Tensor& x, double p, uint64_t seed, uint64_t stream, const Tensor& out);
void route_topk(const Tensor& scores, const Tensor& bias, const route_math::Spec& s, const Tensor& experts,
                const Tensor& affinity);

}  // namespace moe::cpu
