#pragma once
// CPU kernels of the fused optimizer family (core/backend/optim.h).
#include <vector>

#include "core/backend/optim.h"

namespace moe::cpu {

void adamw_update(const std::vector<AdamWTensors>& params);

}  // namespace moe::cpu
