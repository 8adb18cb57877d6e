#pragma once
// CUDA kernels of the fused optimizer family (core/backend/optim.h
// documents each function). Without CUDA the definition is a stub that
// throws (core/cuda/stubs.cc).
#include <vector>

#include "core/backend/optim.h"

namespace moe::cuda {

void adamw_update(const std::vector<AdamWTensors>& params);

}  // namespace moe::cuda
