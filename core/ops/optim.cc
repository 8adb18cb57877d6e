#include "core/backend/optim.h"
#include "core/error.h"
#include "core/ops.h"

namespace moe {

void adamw_update_(const std::vector<AdamWTensors>& params) {
  for (size_t i = 0; i < params.size(); ++i) {
    const AdamWTensors& t = params[i];
    MOE_CHECK(t.param.defined() && t.grad.defined() && t.exp_avg.defined() && t.exp_avg_sq.defined(),
              "adamw_update_: entry ", i, " has an undefined tensor");
    const Device d = params.front().param.device();
    for (const Tensor* x : {&t.param, &t.grad, &t.exp_avg, &t.exp_avg_sq}) {
      MOE_CHECK(x->device() == d, "adamw_update_: entry ", i, ": ", x->str(), " is not on ", d, " (entry 0's device)");
      MOE_CHECK(x->is_contiguous() && x->numel() == t.param.numel(), "adamw_update_: entry ", i, ": ", x->str(),
                " must be contiguous with the parameter's ", t.param.numel(), " elements");
    }
    MOE_CHECK(t.param.dtype() == DType::f32 && t.grad.dtype() == DType::f32, "adamw_update_: entry ", i,
              ": parameter and gradient must be f32, got ", t.param.str(), " and ", t.grad.str());
    MOE_CHECK(t.exp_avg.dtype() == t.exp_avg_sq.dtype() &&
                  (t.exp_avg.dtype() == DType::f32 || t.exp_avg.dtype() == DType::bf16),
              "adamw_update_: entry ", i, ": moments must both be f32 or both bf16, got ", t.exp_avg.str(), " and ",
              t.exp_avg_sq.str());
  }
  backend::adamw_update(params);
  for (const AdamWTensors& t : params) {
    t.param.bump_version();
    t.exp_avg.bump_version();
    t.exp_avg_sq.bump_version();
  }
}

}  // namespace moe
