#pragma once
// Fused optimizer family: in-place updates over many parameters at once.
// Kernels: core/cpu/optim.h, core/cuda/optim.h.
#include <vector>

#include "core/kernels/optim_math.h"
#include "core/tensor.h"

namespace moe {

// One parameter's tensors for a fused AdamW step: param and grad f32,
// exp_avg and exp_avg_sq f32 or bf16 (one dtype), all contiguous with the
// same element count and on one device.
struct AdamWTensors {
  Tensor param, grad, exp_avg, exp_avg_sq;
  optim_math::AdamWScalars scalars;
};

}  // namespace moe

namespace moe::backend {

// Every entry updated in place (optim_math::adamw_element per element).
void adamw_update(const std::vector<AdamWTensors>& params);

}  // namespace moe::backend
