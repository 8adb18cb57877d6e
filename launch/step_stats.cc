#include "launch/step_stats.h"

#include <algorithm>
#include <numeric>

#include "comm/communicator.h"

namespace moe::launch {

StepStats::StepStats(size_t moe_layers) : load_(moe_layers) {}

void StepStats::add_micro_batch(const model::LossParts& loss, const std::vector<model::MoeLayer*>& layers,
                                double weight) {
  lm_ += loss.lm.item() * weight;
  if (loss.mtp.defined()) {
    has_mtp_ = true;
    mtp_ += loss.mtp.item() * weight;
  }
  const std::pair<const char*, const Tensor*> terms[] = {{"aux_expert", &loss.aux.expert},
                                                         {"aux_device", &loss.aux.device},
                                                         {"aux_comm", &loss.aux.comm},
                                                         {"aux_seq", &loss.aux.sequence},
                                                         {"z_loss", &loss.aux.z}};
  for (const auto& [name, t] : terms) {
    if (!t->defined()) continue;
    auto it = std::find_if(aux_.begin(), aux_.end(), [&](const auto& a) { return a.first == name; });
    if (it == aux_.end()) it = aux_.insert(aux_.end(), {name, 0.0});
    it->second += t->item() * weight;
  }
  for (size_t li = 0; li < layers.size(); ++li) {
    const model::MoeStats& st = layers[li]->stats();
    if (load_[li].empty()) load_[li].assign(st.expert_load.size(), 0);
    for (size_t e = 0; e < st.expert_load.size(); ++e) load_[li][e] += st.expert_load[e];
    assignments_ += st.assignments;
    dropped_ += st.dropped;
  }
}

StepMetrics StepStats::reduce(parallel::Mesh& mesh) const {
  StepMetrics sm;
  comm::Communicator& world = mesh.world();
  std::vector<double> means{lm_, mtp_};
  std::vector<double> shares;
  for (const auto& a : aux_) shares.push_back(a.second);
  std::vector<int64_t> counts{assignments_, dropped_};
  for (const std::vector<int64_t>& l : load_) counts.insert(counts.end(), l.begin(), l.end());
  if (world.size() > 1) {
    means = comm::all_reduce_values(world, std::move(means), comm::ReduceOp::avg);
    if (!shares.empty()) shares = comm::all_reduce_values(world, std::move(shares), comm::ReduceOp::sum);
    for (double& v : shares) v /= double(mesh.sizes().dp());
    counts = comm::all_reduce_values(world, std::move(counts), comm::ReduceOp::sum);
  }
  sm.lm_loss = means[0];
  if (has_mtp_) sm.mtp_loss = means[1];
  for (size_t i = 0; i < aux_.size(); ++i) sm.aux.emplace_back(aux_[i].first, shares[i]);
  if (!load_.empty()) {
    sm.moe = true;
    size_t at = 2;
    // The step's worst layer: its busiest expert's load over its mean load.
    for (const std::vector<int64_t>& l : load_) {
      const auto first = counts.begin() + int64_t(at), end = first + int64_t(l.size());
      at += l.size();
      const double mean = double(std::accumulate(first, end, int64_t(0))) / double(l.size());
      if (mean > 0) sm.max_load = std::max(sm.max_load, double(*std::max_element(first, end)) / mean);
    }
    sm.dropped_pct = counts[0] > 0 ? 100.0 * double(counts[1]) / double(counts[0]) : 0;
  }
  return sm;
}

}  // namespace moe::launch
