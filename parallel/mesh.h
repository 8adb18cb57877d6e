#pragma once
// Mesh: the parallel layout of the ranks.
//   world = DP x TP, TP innermost: rank = dp_rank * TP + tp_rank.
//   MoE layers fold the same ranks into EP x EDP, EP blocks contiguous:
//   ep_rank = rank % EP, edp_rank = rank / EP (Megatron-Core's MoE parallel
//   folding: EP divides DP * TP).
// Groups: tp (same dp_rank), dp (same tp_rank), ep (same edp_rank), edp
// (same ep_rank), world, and tp_ep: the contiguous block of lcm(TP, EP)
// ranks, the smallest group holding whole TP groups and whole EP groups
// (the tokens a per-device dropping decision must see together).
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "comm/communicator.h"

namespace moe::parallel {

struct MeshSizes {
  int world = 1, tp = 1, ep = 1;
  int dp() const { return world / tp; }
  int edp() const { return world / ep; }
};

// Checks a layout against the model: world == DP x TP, EP divides world,
// routed experts divisible by EP, heads and kv heads divisible by TP, vocab
// divisible by TP. The error names every violated rule. Pure: every rank
// computes the same answer before any communication.
struct MeshModelFacts {
  int64_t routed_experts = 0;  // 0: dense model
  int64_t heads = 1, kv_heads = 1, vocab = 1;
  int64_t seq_len = 1;          // sequence parallel splits it over TP
  int64_t ffn_dim = 0;          // dense FFN hidden size (0: none)
};
absl::Status validate_mesh(const MeshSizes& s, const MeshModelFacts& m);

class Mesh {
 public:
  // Splits `world` (collective over it). sizes.world must equal world.size().
  Mesh(std::unique_ptr<comm::Communicator> world, int tp, int ep);
  // One rank, every group of size 1 (no MPI).
  static std::unique_ptr<Mesh> single();

  const MeshSizes& sizes() const { return sizes_; }
  int rank() const { return world_->rank(); }
  int dp_rank() const { return rank() / sizes_.tp; }
  int tp_rank() const { return rank() % sizes_.tp; }
  int ep_rank() const { return rank() % sizes_.ep; }
  int edp_rank() const { return rank() / sizes_.ep; }

  comm::Communicator& world() { return *world_; }
  comm::Communicator& dp() { return *dp_; }
  comm::Communicator& tp() { return *tp_; }
  comm::Communicator& ep() { return *ep_; }
  comm::Communicator& edp() { return *edp_; }
  comm::Communicator& tp_ep() { return *tp_ep_; }

 private:
  Mesh() = default;
  MeshSizes sizes_;
  std::unique_ptr<comm::Communicator> world_, dp_, tp_, ep_, edp_, tp_ep_;
};

}  // namespace moe::parallel
