#pragma once
// Expert-parallel dispatcher: the routed experts are split in EP contiguous
// blocks (EP rank p owns experts [p*E/EP, (p+1)*E/EP)). dispatch() exchanges
// the per-expert counts (all-to-all), then the hidden states (all-to-all of
// rows, differentiable), and permutes the arrivals so each local expert's
// rows are contiguous; combine() undoes the permutation and sends the
// expert outputs back with the reverse all-to-all.
#include "comm/communicator.h"
#include "model/dispatcher.h"

namespace moe::model {

class EpDispatcher final : public Dispatcher {
 public:
  // ep must outlive the dispatcher (and every graph it records).
  EpDispatcher(comm::Communicator& ep, int64_t experts);
  Dispatched dispatch(const Tensor& x, const DispatchPlan& plan) override;
  Tensor combine(const Tensor& expert_out, const Dispatched& d, const DispatchPlan& plan) override;

 private:
  int64_t rows_to_peers(const std::vector<int64_t>& rows_per_peer) const;
  comm::Communicator& ep_;
  int64_t experts_, local_experts_;
};

}  // namespace moe::model
