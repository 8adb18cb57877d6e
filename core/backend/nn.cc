#include "core/backend/nn.h"

#include "core/backend/kernel_device.h"
#include "core/cpu/nn.h"
#include "core/cuda/nn.h"

namespace moe::backend {

void rms_norm_fwd(const Tensor& x, const Tensor& w, double eps, const Tensor& out, const Tensor& rstd) {
  switch (kernel_device("rms_norm_fwd", x, w, out, rstd)) {
    case DeviceType::cpu: return cpu::rms_norm_fwd(x, w, eps, out, rstd);
    case DeviceType::cuda: return cuda::rms_norm_fwd(x, w, eps, out, rstd);
  }
  unknown_device("rms_norm_fwd", x.device().type);
}

void rms_norm_bwd(const Tensor& g, const Tensor& x, const Tensor& w, const Tensor& rstd, const Tensor& dx,
                  const Tensor& dw) {
  switch (kernel_device("rms_norm_bwd", g, x, w, rstd, dx, dw)) {
    case DeviceType::cpu: return cpu::rms_norm_bwd(g, x, w, rstd, dx, dw);
    case DeviceType::cuda: return cuda::rms_norm_bwd(g, x, w, rstd, dx, dw);
  }
  unknown_device("rms_norm_bwd", g.device().type);
}

void rope(const Tensor& x, double base, bool interleaved, int64_t offset, int64_t rot_dim, bool inverse,
          const Tensor& out) {
  switch (kernel_device("rope", x, out)) {
    case DeviceType::cpu: return cpu::rope(x, base, interleaved, offset, rot_dim, inverse, out);
    case DeviceType::cuda: return cuda::rope(x, base, interleaved, offset, rot_dim, inverse, out);
  }
  unknown_device("rope", x.device().type);
}

void embedding_first_bad(const Tensor& ids, int64_t V, const Tensor& pos) {
  MOE_CHECK(pos.dim() == 0 && pos.dtype() == DType::i64, "backend embedding_first_bad: pos must be a 0-d i64, got ",
            pos.str());
  switch (kernel_device("embedding_first_bad", ids, pos)) {
    case DeviceType::cpu: *pos.data<int64_t>() = cpu::embedding_first_bad(ids, V); return;
    case DeviceType::cuda: return cuda::embedding_first_bad(ids, V, pos);
  }
  unknown_device("embedding_first_bad", ids.device().type);
}

void embedding_fwd(const Tensor& w, const Tensor& ids, const Tensor& out) {
  switch (kernel_device("embedding_fwd", w, ids, out)) {
    case DeviceType::cpu: return cpu::embedding_fwd(w, ids, out);
    case DeviceType::cuda: return cuda::embedding_fwd(w, ids, out);
  }
  unknown_device("embedding_fwd", w.device().type);
}

void embedding_bwd(const Tensor& g, const Tensor& ids, const Tensor& dw) {
  switch (kernel_device("embedding_bwd", g, ids, dw)) {
    case DeviceType::cpu: return cpu::embedding_bwd(g, ids, dw);
    case DeviceType::cuda: return cuda::embedding_bwd(g, ids, dw);
  }
  unknown_device("embedding_bwd", g.device().type);
}

void route_topk(const Tensor& scores, const Tensor& bias, const route_math::Spec& s, const Tensor& experts,
                const Tensor& affinity) {
  const DeviceType d = bias.defined() ? kernel_device("route_topk", scores, bias, experts, affinity)
                                      : kernel_device("route_topk", scores, experts, affinity);
  switch (d) {
    case DeviceType::cpu: return cpu::route_topk(scores, bias, s, experts, affinity);
    case DeviceType::cuda: return cuda::route_topk(scores, bias, s, experts, affinity);
  }
  unknown_device("route_topk", scores.device().type);
}

void dropout(const Tensor& x, double p, uint64_t seed, uint64_t stream, const Tensor& out) {
  switch (kernel_device("dropout", x, out)) {
    case DeviceType::cpu: return cpu::dropout(x, p, seed, stream, out);
    case DeviceType::cuda: return cuda::dropout(x, p, seed, stream, out);
  }
  unknown_device("dropout", x.device().type);
}

}  // namespace moe::backend
