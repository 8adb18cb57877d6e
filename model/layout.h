#pragma once
// Where this rank sits in the parallel layout, as the model's modules see
// it. A default Layout is one rank (no communication anywhere).
//
// Tensor parallelism always comes with sequence parallelism here: between
// the TP regions (attention, dense FFN, vocab-parallel embedding and head)
// each TP rank holds T/TP positions of every sequence, so norms, dropout,
// the router and the MoE experts run on distinct tokens on every rank (as
// Megatron-Core requires for TP together with EP).
#include "parallel/mesh.h"
#include "parallel/sharding.h"

namespace moe::model {

struct Layout {
  parallel::Mesh* mesh = nullptr;  // not owned; null: one rank
  // EP: the MoE layer computes its shared experts while the dispatched
  // tokens travel (parallel.overlap_dispatch); the same values either way.
  bool overlap_dispatch = true;

  int tp() const { return mesh ? mesh->sizes().tp : 1; }
  int tp_rank() const { return mesh ? mesh->tp_rank() : 0; }
  int ep() const { return mesh ? mesh->sizes().ep : 1; }
  int ep_rank() const { return mesh ? mesh->ep_rank() : 0; }
  int dp() const { return mesh ? mesh->sizes().dp() : 1; }
  bool sequence_parallel() const { return tp() > 1; }

  // Shard specs of the parameter classes (parallel/sharding.h).
  parallel::ShardSpec tp_split(int dim) const {
    if (tp() == 1) return {};
    return {parallel::ParamClass::tp_sharded, dim, tp_rank(), tp()};
  }
  parallel::ShardSpec expert_split(int dim) const {
    return {parallel::ParamClass::expert, ep() > 1 ? dim : -1, ep() > 1 ? ep_rank() : 0, ep() > 1 ? ep() : 1};
  }
};

}  // namespace moe::model
