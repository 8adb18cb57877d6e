#pragma once
// One training step's statistics, accumulated over micro-batches on each
// rank and reduced to global values:
// - lm / MTP loss: every TP rank holds its DP replica's value, so the global
//   mean is the average over the world;
// - aux terms: each rank holds its share (model/balance_loss.h), so the
//   global value is the sum over the world / DP;
// - expert loads, assignments, drops: sums over the world.
#include <string>
#include <utility>
#include <vector>

#include "launch/metrics.h"
#include "model/transformer.h"
#include "parallel/mesh.h"

namespace moe::launch {

class StepStats {
 public:
  explicit StepStats(size_t moe_layers);
  // Adds one micro-batch's loss parts (weighted by `weight`) and the MoE
  // layers' statistics of its forward.
  void add_micro_batch(const model::LossParts& loss, const std::vector<model::MoeLayer*>& layers, double weight);
  // Collective over the world.
  StepMetrics reduce(parallel::Mesh& mesh) const;

 private:
  double lm_ = 0, mtp_ = 0;
  bool has_mtp_ = false;
  std::vector<std::pair<std::string, double>> aux_;
  std::vector<std::vector<int64_t>> load_;  // [layer][expert]
  int64_t assignments_ = 0, dropped_ = 0;
};

}  // namespace moe::launch
