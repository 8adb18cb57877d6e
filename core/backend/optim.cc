#include "core/backend/optim.h"

#include "core/backend/kernel_device.h"
#include "core/cpu/optim.h"
#include "core/cuda/optim.h"

namespace moe::backend {

void adamw_update(const std::vector<AdamWTensors>& params) {
  if (params.empty()) return;
  const AdamWTensors& first = params.front();
  for (const AdamWTensors& t : params) kernel_device("adamw_update", first.param, t.param, t.grad, t.exp_avg, t.exp_avg_sq);
  switch (first.param.device().type) {
    case DeviceType::cpu: return cpu::adamw_update(params);
    case DeviceType::cuda: return cuda::adamw_update(params);
  }
  unknown_device("adamw_update", first.param.device().type);
}

}  // namespace moe::backend
