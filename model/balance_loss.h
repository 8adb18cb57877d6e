#pragma once
// Auxiliary losses of the MoE router, each exactly as in the papers:
// DeepSeek-V2 eqs. 23-31 (expert-, device- and communication-level balance),
// DeepSeek-V3 eq. 17-20 (sequence-wise balance) and the ST-MoE z-loss.
// Each is computed per sequence (T = the sequence's tokens) and averaged over
// the sequences, or over the whole micro-batch as one "sequence".
#include <cstdint>
#include <vector>

#include "core/tensor.h"
#include "model/config.pb.h"

namespace moe::model {

struct BalanceInputs {
  Tensor logits;  // [B*T, E] router logits (for the z-loss)
  Tensor scores;  // [B*T, E] s_{i,t}, differentiable
  const std::vector<int32_t>* experts = nullptr;  // [B*T*K] selections
  const std::vector<uint8_t>* keep = nullptr;     // [B*T*K] kept by the dispatch plan
  int64_t batch = 0, seq = 0, top_k = 0, groups = 1, top_groups = 1;
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
