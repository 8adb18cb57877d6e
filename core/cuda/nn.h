#pragma once
// CUDA kernels of the neural-network family (core/backend/nn.h documents each function).
// Plain C++ declarations, so every build sees them: without a kernel, or
// without CUDA, the definition is a stub that throws (core/cuda/stubs.cc);
// a kernel replaces its stub in core/cuda/nn.cu.
#include <cstdint>

#include "core/kernels/route_math.h"
#include "core/tensor.h"

namespace moe::cuda {

void rms_norm_fwd(const Tensor& x, const Tensor& w, double eps, const Tensor& out, const Tensor& rstd);
void rms_norm_bwd(const Tensor& g, const Tensor& x, const Tensor& w, const Tensor& rstd, const Tensor& dx,
                  const Tensor& dw);
void rope(const Tensor& x, double base, bool interleaved, int64_t offset, int64_t rot_dim, bool inverse,
          const Tensor& out);
void embedding_first_bad(const Tensor& ids, int64_t V, const Tensor& pos);
void embedding_fwd(const Tensor& w, const Tensor& ids, const Tensor& out);
void embedding_bwd(const Tensor& g, const Tensor& ids, const Tensor& dw);
void dropout(const Tensor& x, double p, uint64_t seed, uint64_t stream, const Tensor& out);
void route_topk(const Tensor& scores, const Tensor& bias, const route_math::Spec& s, const Tensor& experts,
                const Tensor& affinity);

}  // namespace moe::cuda
