#pragma once
// Dispatcher: executes a DispatchPlan. dispatch() moves the kept assignments'
// hidden states to the ranks that own their experts, rows grouped by local
// expert; combine() brings the expert outputs back in the plan's order
// (DispatchPlan::assignments). The single-rank dispatcher is a local
// permutation; the expert-parallel one (all-to-all over the EP group)
// implements the same interface. Both are differentiable.
#include <cstdint>
#include <memory>
#include <vector>

#include "comm/collectives.h"
#include "core/tensor.h"
#include "model/dispatch_plan.h"
#include "model/fp8_dispatch.h"

namespace moe::model {

// What dispatch() produced: the rows for this rank's experts and how to send
// their results back. A value: the dispatcher itself keeps no state.
struct Dispatched {
  Tensor rows;                      // [rows, D], grouped by local expert
  std::vector<int64_t> local_rows;  // rows per local expert
  Fp8Rows codes;                    // FP8 dispatch: what `rows` were dequantised from, same order
  // Expert parallel only: rows sent to / received from each EP peer, and the
  // order that turns `rows` (by local expert, then source rank) back into
  // arrival order (by source rank, then local expert).
  std::vector<int64_t> send_rows, recv_rows;
  Tensor to_arrival_order;  // i64 [rows]
  std::vector<int64_t> block_rows;  // rows arriving per (source rank, local expert)
  // Set when the rows are still travelling (an overlapped dispatch): rows and
  // to_arrival_order come with finish_dispatch().
  std::shared_ptr<comm::PendingAllToAll> in_flight;
  std::shared_ptr<PendingFp8AllToAll> fp8_in_flight;  // the same, FP8 dispatch
  bool travelling() const { return in_flight || fp8_in_flight; }
};

// What start_combine() produced: the combined rows, or the exchange that
// brings them (in flight).
struct Combining {
  Tensor rows;
  std::shared_ptr<comm::PendingAllToAll> in_flight;
};

// plan.token_index (set where the selections live by the MoE layer), or
// plan.tokens uploaded to `d` for a plan built on the host alone.
Tensor token_index_on(const DispatchPlan& plan, Device d);

class Dispatcher {
 public:
  virtual ~Dispatcher() = default;
  virtual Dispatched dispatch(const Tensor& x, const DispatchPlan& plan) = 0;
  // Completes a dispatch whose rows were still travelling (d.travelling());
  // nothing otherwise. The caller may compute in between.
  virtual void finish_dispatch(Dispatched& d) { (void)d; }
  // expert_out [rows, D] in the order of d.rows -> [plan.assignments, D] in plan order.
  virtual Tensor combine(const Tensor& expert_out, const Dispatched& d, const DispatchPlan& plan) = 0;
  // combine() as two halves, the caller computing in between: the exchange
  // may still be travelling when start_combine returns. finish_combine
  // returns what combine() would, bit for bit.
  virtual Combining start_combine(const Tensor& expert_out, const Dispatched& d, const DispatchPlan& plan) {
    return {combine(expert_out, d, plan), nullptr};
  }
  static Tensor finish_combine(Combining& c);
};

// One rank owns every expert: dispatch gathers rows by plan.tokens, combine
// is the identity (rows are already in plan order). With fp8 (FP8 dispatch,
// model/fp8_dispatch.h) the rows get the quantise-dequantise the EP wire
// applies, so one rank and EP ranks compute on the same values.
class LocalDispatcher final : public Dispatcher {
 public:
  explicit LocalDispatcher(bool fp8 = false) : fp8_(fp8) {}
  Dispatched dispatch(const Tensor& x, const DispatchPlan& plan) override;
  Tensor combine(const Tensor& expert_out, const Dispatched& d, const DispatchPlan& plan) override;

 private:
  bool fp8_;
};

}  // namespace moe::model
