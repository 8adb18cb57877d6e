#pragma once
// Neural-network family: rms_norm, rope, embedding and dropout, forward and
// backward. Kernels: core/cpu/nn.h, core/cuda/nn.h. Unless noted, tensors
// are contiguous and floating ones share one compute dtype (f32/f64).
#include <cstdint>

#include "core/kernels/route_math.h"
#include "core/tensor.h"

namespace moe::backend {

// x, out [R, D]; w [D]; rstd [R] gets 1/sqrt(mean(x^2) + eps) per row.
void rms_norm_fwd(const Tensor& x, const Tensor& w, double eps, const Tensor& out, const Tensor& rstd);
// g, x, dx [R, D]; dw [D] (skipped when undefined) = sum over rows of
// g * x * rstd.
void rms_norm_bwd(const Tensor& g, const Tensor& x, const Tensor& w, const Tensor& rstd, const Tensor& dx,
                  const Tensor& dw);

// x, out [B, T, H, Dh]: the first rot_dim dims rotated by (offset + t) *
// theta_i, by minus that angle when inverse (the backward); the rest copied.
void rope(const Tensor& x, double base, bool interleaved, int64_t offset, int64_t rot_dim, bool inverse,
          const Tensor& out);

// pos (0-d i64, ids' device) = the flat position of the first id outside
// [0, V) in ids (i32/i64), or -1.
void embedding_first_bad(const Tensor& ids, int64_t V, const Tensor& pos);
// out [N, D] = rows of w [V, D] (any dtype; w needs unit column stride only).
void embedding_fwd(const Tensor& w, const Tensor& ids, const Tensor& out);
// dw [V, D] (zero-filled) += g [N, D] scattered by ids.
void embedding_bwd(const Tensor& g, const Tensor& ids, const Tensor& dw);

// out = x with element i dropped when philox::uniform(seed, stream, i) < p,
// the rest divided by 1 - p.
void dropout(const Tensor& x, double p, uint64_t seed, uint64_t stream, const Tensor& out);

// The router's selection (core/kernels/route_math.h), one token per row:
// scores f32 [N, E], bias f32 [E] (undefined: none); experts i32 [N, K] the
// selected experts best first, affinity f32 [N, K] their scores (no bias).
void route_topk(const Tensor& scores, const Tensor& bias, const route_math::Spec& s, const Tensor& experts,
                const Tensor& affinity);

}  // namespace moe::backend
