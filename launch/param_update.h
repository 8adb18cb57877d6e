#pragma once
// From gradients to updated parameters on a mesh: gradient synchronisation
// (GradSync, or ZeRO-1's reduce-scatter), the global gradient norm and
// clipping, and the optimizer step. On one rank it is the plain optimizer.
#include <memory>
#include <vector>

#include "launch/train_config.pb.h"
#include "model/module.h"
#include "optim/optimizer.h"
#include "parallel/grad_sync.h"
#include "parallel/mesh.h"
#include "parallel/zero1.h"

namespace moe::launch {

class ParamUpdater {
 public:
  // Collective over the mesh (layout checks of GradSync / Zero1).
  ParamUpdater(parallel::Mesh& mesh, const std::vector<model::Named>& params, const config::TrainConfig& cfg);

  // Before each micro-batch's backward: only the last one of a step
  // synchronises (overlapped with its backward).
  void begin_micro_batch(bool last);
  // After the last backward: completes the synchronisation; returns the
  // global gradient norm (before clipping) and clips to max_norm when > 0.
  double finish_gradients(double max_norm);
  void step(double lr);
  void zero_grad();

  // The optimizer over this rank's parameters (ZeRO-1: its owned shard).
  optim::Optimizer& optimizer();

 private:
  parallel::Mesh& mesh_;
  std::vector<parallel::ClassedParam> params_;
  std::unique_ptr<optim::Optimizer> opt_;   // without ZeRO-1
  std::unique_ptr<parallel::GradSync> sync_;  // without ZeRO-1, world > 1
  std::unique_ptr<parallel::Zero1> zero1_;
};

}  // namespace moe::launch
