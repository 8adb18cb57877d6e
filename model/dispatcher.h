#pragma once
// Dispatcher: executes a DispatchPlan. dispatch() moves the kept assignments'
// hidden states to the ranks that own their experts, rows grouped by local
// expert; combine() brings the expert outputs back in the plan's order
// (DispatchPlan::assignments). The single-rank dispatcher is a local
// permutation; the expert-parallel one (all-to-all over the EP group)
// implements the same interface. Both are differentiable.
#include <cstdint>
#include <vector>

#include "core/tensor.h"
#include "model/dispatch_plan.h"

namespace moe::model {

struct Dispatched {
  Tensor rows;                     // [rows, D], grouped by local expert
  std::vector<int64_t> local_rows;  // rows per local expert
};

class Dispatcher {
 public:
  virtual ~Dispatcher() = default;
  virtual Dispatched dispatch(const Tensor& x, const DispatchPlan& plan) = 0;
  virtual Tensor combine(const Tensor& expert_out, const DispatchPlan& plan) = 0;
};

// One rank owns every expert: dispatch gathers rows by plan.tokens, combine
// is the identity (rows are already in plan order).
class LocalDispatcher final : public Dispatcher {
 public:
  Dispatched dispatch(const Tensor& x, const DispatchPlan& plan) override;
  Tensor combine(const Tensor& expert_out, const DispatchPlan& plan) override;
};

}  // namespace moe::model
