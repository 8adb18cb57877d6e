#pragma once
// Residual and embedding dropout keyed by sequence: the mask of sequence s at
// site k is Philox(seed, stream(s, k), element of the sequence), so a
// sequence sees the same mask whichever rank or micro-batch processes it.
#include <cstdint>

#include "core/tensor.h"
#include "model/moe_layer.h"

namespace moe::model {

// x [B, T, D]; identity when p == 0. `site` names the place in the model
// (embedding 0, then 2l + 1 and 2l + 2 for layer l's attention and FFN).
Tensor sequence_dropout(const Tensor& x, double p, const BatchInfo& info, uint64_t site);

}  // namespace moe::model
