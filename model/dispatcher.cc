#include "model/dispatcher.h"

#include "core/ops.h"
#include "model/fp8_dispatch.h"

namespace moe::model {

Dispatched LocalDispatcher::dispatch(const Tensor& x, const DispatchPlan& plan) {
  Tensor index = plan.token_index;
  if (!index.defined()) {
    std::vector<double> idx(plan.tokens.begin(), plan.tokens.end());
    index = from_vector(idx, {int64_t(idx.size())}, DType::i64, x.device());
  }
  Dispatched d;
  d.rows = index_select(x, 0, index);
  if (fp8_) d.rows = fp8_round_trip(d.rows);
  d.local_rows = plan.expert_rows;
  return d;
}

Tensor LocalDispatcher::combine(const Tensor& expert_out, const Dispatched&, const DispatchPlan&) { return expert_out; }

}  // namespace moe::model
