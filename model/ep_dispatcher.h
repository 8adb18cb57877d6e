#pragma once
// Expert-parallel dispatcher: the routed experts are split in EP contiguous
// blocks (EP rank p owns experts [p*E/EP, (p+1)*E/EP)). dispatch() exchanges
// the per-expert counts (all-to-all), then the hidden states (all-to-all of
// rows, differentiable), and permutes the arrivals so each local expert's
// rows are contiguous; combine() undoes the permutation and sends the
// expert outputs back with the reverse all-to-all. With fp8 the dispatch
// all-to-all carries E4M3 codes + f32 tile scales (model/fp8_dispatch.h);
// combine stays f32.
#include "comm/communicator.h"
#include "model/dispatcher.h"

namespace moe::model {

class EpDispatcher final : public Dispatcher {
 public:
  // ep must outlive the dispatcher (and every graph it records).
  // overlap: dispatch() returns with the rows still travelling
  // (Dispatched::in_flight, or fp8_in_flight with fp8); finish_dispatch()
  // receives them.
  // start_combine() likewise, and both exchanges' backwards are split
  // (Node::start) so other gradient work runs while they travel.
  EpDispatcher(comm::Communicator& ep, int64_t experts, bool fp8 = false, bool overlap = false);
  Dispatched dispatch(const Tensor& x, const DispatchPlan& plan) override;
  void finish_dispatch(Dispatched& d) override;
  Tensor combine(const Tensor& expert_out, const Dispatched& d, const DispatchPlan& plan) override;
  Combining start_combine(const Tensor& expert_out, const Dispatched& d, const DispatchPlan& plan) override;

 private:
  int64_t rows_to_peers(const std::vector<int64_t>& rows_per_peer) const;
  // arrived (by source rank, then local expert) -> d.rows (by local expert, then source).
  // FP8: the arrived codes likewise into d.codes.
  void permute(Dispatched& d, const Tensor& arrived, const Fp8Rows& codes = {}) const;
  // expert_out back in arrival order, its bytes counted.
  Tensor to_arrival(const Tensor& expert_out, const Dispatched& d) const;
  comm::Communicator& ep_;
  int64_t experts_, local_experts_;
  bool fp8_, overlap_;
};

}  // namespace moe::model
