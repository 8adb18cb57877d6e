#include "model/dispatcher.h"

#include "core/ops.h"
#include "model/fp8_dispatch.h"

namespace moe::model {

Tensor token_index_on(const DispatchPlan& plan, Device d) {
  if (plan.token_index.defined()) return plan.token_index;
  std::vector<double> idx(plan.tokens.begin(), plan.tokens.end());
  return from_vector(idx, {int64_t(idx.size())}, DType::i64, d);
}

Tensor Dispatcher::finish_combine(Combining& c) {
  if (c.in_flight) {
    c.rows = c.in_flight->finish();
    c.in_flight.reset();
  }
  return c.rows;
}

Dispatched LocalDispatcher::dispatch(const Tensor& x, const DispatchPlan& plan) {
  Dispatched d;
  d.rows = index_select(x, 0, token_index_on(plan, x.device()));
  if (fp8_) d.rows = fp8_round_trip(d.rows, &d.codes);
  d.local_rows = plan.expert_rows;
  return d;
}

Tensor LocalDispatcher::combine(const Tensor& expert_out, const Dispatched&, const DispatchPlan&) { return expert_out; }

}  // namespace moe::model
