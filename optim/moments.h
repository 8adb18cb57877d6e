#pragma once
// Storage of the optimizer moments (AdamW's m and v, Muon's momentum buffer)
// as optim.moment_dtype says: f32, or bf16 as in DeepSeek-V3 (half the
// bytes). An update loads each moment to f32, does exactly the f32 math of
// the FP32 path and stores the result rounded to nearest even
// (core/dtype_convert.h); the step that computes a moment uses it unrounded,
// the next step reads the rounded value (TransformerEngine's FusedAdam with
// bf16 moments does the same). Master weights stay f32.
#include <cstdint>

#include "core/dtype_switch.h"
#include "core/dtype.h"
#include "core/kernels/optim_math.h"
#include "optim/config.pb.h"

namespace moe::optim {

inline DType moment_dtype(const config::OptimizerConfig& cfg) {
  return cfg.moment_dtype() == config::MOMENT_BF16 ? DType::bf16 : DType::f32;
}

// Loads and stores: optim_math::load_moment / store_moment
// (core/kernels/optim_math.h), shared with the fused kernels.

// Calls f(Tag<float>) or f(Tag<bf16_t>) for a moment tensor's dtype.
template <typename F>
decltype(auto) moment_dtype_switch(DType t, F&& f) {
  switch (t) {
    case DType::f32: return f(Tag<float>{});
    case DType::bf16: return f(Tag<bf16_t>{});
    default: break;
  }
  MOE_CHECK(false, "optimizer moments are f32 or bf16, got ", t);
}

}  // namespace moe::optim
