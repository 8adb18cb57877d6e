#include "model/ep_dispatcher.h"

#include "comm/collectives.h"
#include "core/error.h"
#include "core/ops.h"
#include "core/phase_timer.h"
#include "model/fp8_dispatch.h"

namespace moe::model {

// Rows that leave this rank (the rows it keeps for itself move no bytes).
int64_t EpDispatcher::rows_to_peers(const std::vector<int64_t>& rows_per_peer) const {
  int64_t n = 0;
  for (size_t p = 0; p < rows_per_peer.size(); ++p)
    if (int(p) != ep_.rank()) n += rows_per_peer[p];
  return n;
}

EpDispatcher::EpDispatcher(comm::Communicator& ep, int64_t experts, bool fp8, bool overlap)
    : ep_(ep), experts_(experts), local_experts_(experts / ep.size()), fp8_(fp8), overlap_(overlap) {
  MOE_CHECK(experts % ep.size() == 0, "EpDispatcher: ", experts, " experts do not split over ", ep.size(),
            " EP ranks");
}

Dispatched EpDispatcher::dispatch(const Tensor& x, const DispatchPlan& plan) {
  prof::PhaseScope scope(prof::Phase::dispatch);
  const int P = ep_.size();
  const int64_t L = local_experts_;
  MOE_CHECK(int64_t(plan.expert_rows.size()) == experts_, "EpDispatcher: plan has ", plan.expert_rows.size(),
            " experts, layer has ", experts_);
  // 1. Counts: rows of each of peer p's experts that this rank sends.
  Tensor send_counts = empty({P * L}, DType::i64);
  Dispatched d;
  d.send_rows.assign(size_t(P), 0);
  for (int p = 0; p < P; ++p)
    for (int64_t l = 0; l < L; ++l) {
      const int64_t n = plan.expert_rows[size_t(p * L + l)];
      send_counts.data<int64_t>()[p * L + l] = n;
      d.send_rows[size_t(p)] += n;
    }
  const std::vector<int64_t> per_peer(size_t(P), L);
  const Tensor recv_counts = ep_.all_to_all_single(send_counts, per_peer, per_peer);  // [src, local expert]
  const int64_t* rc = recv_counts.data<int64_t>();
  d.recv_rows.assign(size_t(P), 0);
  d.local_rows.assign(size_t(L), 0);
  d.block_rows.assign(rc, rc + P * L);
  for (int p = 0; p < P; ++p)
    for (int64_t l = 0; l < L; ++l) {
      d.recv_rows[size_t(p)] += rc[p * L + l];
      d.local_rows[size_t(l)] += rc[p * L + l];
    }

  // 2. Payload: the plan's rows are sorted by expert, hence by destination.
  const Tensor rows = index_select(x, 0, token_index_on(plan, x.device()));
  const int64_t row_bytes = fp8_ ? fp8_row_bytes(x.size(1)) : x.size(1) * int64_t(dtype_size(x.dtype()));
  prof::add_bytes(prof::Phase::dispatch, rows_to_peers(d.send_rows) * row_bytes);
  if (overlap_ && fp8_) {
    d.fp8_in_flight = std::make_shared<PendingFp8AllToAll>(ep_, rows, d.send_rows, d.recv_rows);
    return d;
  }
  if (overlap_) {
    d.in_flight = std::make_shared<comm::PendingAllToAll>(ep_, rows, d.send_rows, d.recv_rows);
    return d;
  }
  // Arrivals by (source rank, local expert).
  Fp8Rows codes;
  const Tensor arrived = fp8_ ? fp8_all_to_all(ep_, rows, d.send_rows, d.recv_rows, &codes)
                              : comm::all_to_all_autograd(ep_, rows, d.send_rows, d.recv_rows, overlap_);
  permute(d, arrived, codes);
  return d;
}

void EpDispatcher::finish_dispatch(Dispatched& d) {
  if (!d.travelling()) return;
  prof::PhaseScope scope(prof::Phase::dispatch);
  Fp8Rows codes;
  const Tensor arrived = d.in_flight ? d.in_flight->finish() : d.fp8_in_flight->finish(&codes);
  d.in_flight.reset();
  d.fp8_in_flight.reset();
  permute(d, arrived, codes);
}

// 3. Permute (src, local expert) -> (local expert, src).
void EpDispatcher::permute(Dispatched& d, const Tensor& arrived, const Fp8Rows& codes) const {
  const int P = ep_.size();
  const int64_t L = local_experts_;
  const int64_t* rc = d.block_rows.data();
  std::vector<int64_t> start(size_t(P * L));  // first arrival row of block (src, l)
  int64_t r = 0;
  for (int p = 0; p < P; ++p)
    for (int64_t l = 0; l < L; ++l) {
      start[size_t(p * L + l)] = r;
      r += rc[p * L + l];
    }
  std::vector<double> order, back(static_cast<size_t>(r));
  order.reserve(size_t(r));
  for (int64_t l = 0; l < L; ++l)
    for (int p = 0; p < P; ++p)
      for (int64_t i = 0; i < rc[p * L + l]; ++i) {
        back[size_t(start[size_t(p * L + l)] + i)] = double(order.size());
        order.push_back(double(start[size_t(p * L + l)] + i));
      }
  const Tensor index = from_vector(order, {r}, DType::i64, arrived.device());
  d.rows = index_select(arrived, 0, index);
  if (codes.defined()) d.codes = codes.index_rows(index);
  d.to_arrival_order = from_vector(back, {r}, DType::i64, arrived.device());
}

Tensor EpDispatcher::to_arrival(const Tensor& expert_out, const Dispatched& d) const {
  prof::add_bytes(prof::Phase::combine,
                  rows_to_peers(d.recv_rows) * expert_out.size(1) * int64_t(dtype_size(expert_out.dtype())));
  return index_select(expert_out, 0, d.to_arrival_order);
}

Tensor EpDispatcher::combine(const Tensor& expert_out, const Dispatched& d, const DispatchPlan&) {
  prof::PhaseScope scope(prof::Phase::combine);
  return comm::all_to_all_autograd(ep_, to_arrival(expert_out, d), d.recv_rows, d.send_rows, overlap_);
}

Combining EpDispatcher::start_combine(const Tensor& expert_out, const Dispatched& d, const DispatchPlan& plan) {
  if (!overlap_) return {combine(expert_out, d, plan), nullptr};
  prof::PhaseScope scope(prof::Phase::combine);
  return {Tensor(), std::make_shared<comm::PendingAllToAll>(ep_, to_arrival(expert_out, d), d.recv_rows, d.send_rows)};
}

}  // namespace moe::model
