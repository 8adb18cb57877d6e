#include "core/backend/attention.h"

#include "core/backend/kernel_device.h"
#include "core/cpu/nn.h"
#include "core/cuda/attention.h"

namespace moe::backend {

void attention_fwd(const Tensor& q, const Tensor& k, const Tensor& v, double scale, int64_t window,
                   const Tensor& out, const Tensor& lse) {
  switch (kernel_device("attention_fwd", q, k, v, out, lse)) {
    case DeviceType::cpu: return cpu::attention_fwd(q, k, v, scale, window, out, lse);
    case DeviceType::cuda: return cuda::attention_fwd(q, k, v, scale, window, out, lse);
  }
  unknown_device("attention_fwd", q.device().type);
}

void attention_bwd(const Tensor& g, const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out,
                   const Tensor& lse, double scale, int64_t window, const Tensor& dq, const Tensor& dk,
                   const Tensor& dv) {
  switch (kernel_device("attention_bwd", g, q, k, v, out, lse, dq, dk, dv)) {
    case DeviceType::cpu: return cpu::attention_bwd(g, q, k, v, out, lse, scale, window, dq, dk, dv);
    case DeviceType::cuda: return cuda::attention_bwd(g, q, k, v, out, lse, scale, window, dq, dk, dv);
  }
  unknown_device("attention_bwd", g.device().type);
}

void attention_max_logits(const Tensor& q, const Tensor& k, double scale, int64_t window, const Tensor& out) {
  switch (kernel_device("attention_max_logits", q, k, out)) {
    case DeviceType::cpu: return cpu::attention_max_logits(q, k, scale, window, out);
    case DeviceType::cuda: return cuda::attention_max_logits(q, k, scale, window, out);
  }
  unknown_device("attention_max_logits", q.device().type);
}

}  // namespace moe::backend
