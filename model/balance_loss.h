#pragma once
// Auxiliary losses of the MoE router, each exactly as in the papers:
// DeepSeek-V2 eqs. 23-31 (expert-, device- and communication-level balance),
// DeepSeek-V3 eq. 17-20 (sequence-wise balance) and the ST-MoE z-loss.
// Each is computed per sequence (T = the sequence's tokens) and averaged over
// the sequences, or over the whole micro-batch as one "sequence".
#include <cstdint>
#include <vector>

#include "comm/communicator.h"
#include "core/tensor.h"
#include "model/config.pb.h"

namespace moe::model {

struct BalanceInputs {
  Tensor logits;  // [B*T, E] router logits (for the z-loss)
  Tensor scores;  // [B*T, E] s_{i,t}, differentiable
  const std::vector<int32_t>* experts = nullptr;  // [B*T*K] selections
  const std::vector<uint8_t>* keep = nullptr;     // [B*T*K] kept by the dispatch plan
  int64_t batch = 0, seq = 0, top_k = 0, groups = 1, top_groups = 1;
  // Parallel runs (defaults: one rank). The terms are written so that the
  // DP mean of the sum over TP of every rank's value is the global loss, and
  // each rank's backward gives exactly its tokens' share of the gradient:
  // - row_group: the ranks holding the other tokens of the same rows (the
  //   TP group for per-sequence scope: sequence parallelism splits each
  //   sequence; the world for micro-batch scope: the global micro-batch);
  //   selection counts are summed over it (counts carry no gradient).
  // - row_tokens: T of one row over row_group (0: local T).
  // - rank_scale: multiplies the balance terms (micro-batch scope: DP, since
  //   every rank holds a share of one global term and gradients are DP-averaged).
  // - z_share: the z-loss is mean(lse^2) * z_share (1/TP: a TP rank holds
  //   1/TP of its replica's tokens).
  comm::Communicator* row_group = nullptr;
  int64_t row_tokens = 0;
  double rank_scale = 1.0, z_share = 1.0;
};

// Each term already multiplied by its coefficient; undefined when the
// coefficient is 0. All scalars.
struct AuxLosses {
  Tensor expert, device, comm, sequence, z;
  Tensor total() const;  // sum of the defined terms (undefined if none)
};

// Counts behind the balance terms, in the papers' notation (no autograd):
// f_i = E / (K T) * sum_t 1(t selects i)                        [B', E]
// f''_d = G / (M T) * sum_t 1(t sends an assignment to group d)  [B', G]
// with B' = batch (per-sequence scope) or 1 (micro-batch scope).
struct BalanceCounts {
  std::vector<double> f, f_comm;
  int64_t rows = 0, T = 0;
};
BalanceCounts balance_counts(const BalanceInputs& in, bool per_sequence);

AuxLosses aux_losses(const config::MoeConfig& c, const BalanceInputs& in);

}  // namespace moe::model
