#pragma once
// The dispatch plan: which (token, expert) assignments are kept (capacity /
// token dropping) and in which order they travel. A pure function of the
// router's outputs and of each token's global identity, so that the parallel
// layout never changes which tokens drop.
#include <cstdint>
#include <vector>

#include "comm/communicator.h"
#include "core/tensor.h"
#include "model/config.pb.h"

namespace moe::model {

struct PlanInputs {
  int64_t tokens = 0;                   // N
  int64_t top_k = 0;                    // K
  int64_t experts = 0;                  // E
  int64_t groups = 1;                   // G (devices)
  const int32_t* experts_of = nullptr;  // [N * K] selected experts
  const float* affinity = nullptr;      // [N * K] unbiased score s_{i,t} of each selection
  const int64_t* token_key = nullptr;   // [N] global token id: global sequence index * T + position
  const uint8_t* protect = nullptr;     // [N] 1: token of a never-dropped sequence (device budget)
};

struct DispatchPlan {
  std::vector<uint8_t> keep;          // [N * K]: assignment a = t * K + k is kept
  std::vector<int64_t> assignments;   // kept assignments sorted by (expert, token order)
  std::vector<int64_t> tokens;        // token of each entry of `assignments`
  std::vector<int64_t> expert_rows;   // [E] kept assignments per expert
  int64_t dropped = 0;                // assignments dropped
  // `assignments` and `tokens` as i64 tensors on the compute device, sorted
  // there from the router's selections (expert_order, core/ops.h); set by
  // the MoE layer, undefined in a plan built elsewhere.
  Tensor assignment_index, token_index;
};

// Capacity of one expert under DROP_EXPERT_CAPACITY:
// ceil(cf * tokens * K / E), computed in double (float rounding would change
// the integer).
int64_t expert_capacity(double capacity_factor, int64_t tokens, int64_t top_k, int64_t experts);
// Budget of one device (group) under DROP_DEVICE_BUDGET: ceil(cf * tokens * K / G).
int64_t device_budget(double capacity_factor, int64_t tokens, int64_t top_k, int64_t groups);

// Builds the plan. Ranking for dropping, a total order: affinity descending,
// then token_key ascending, then k ascending; the lowest-ranked assignments
// of an over-full expert (or device) are dropped. Under DROP_DEVICE_BUDGET
// assignments of protected tokens are never dropped (they still use budget).
DispatchPlan plan_dispatch(const config::MoeConfig& c, const PlanInputs& in);
// The plan that keeps exactly the assignments flagged in `keep` ([N * K]).
DispatchPlan plan_from_keep(std::vector<uint8_t> keep, const PlanInputs& in);
// plan_dispatch for one rank of `group`, when the dropping decision must
// cover the tokens of every rank of the group: the group's selections,
// affinities, token ids and protection flags are all-gathered and every rank
// makes the decision one rank would make for all of them, then keeps its
// own part. Dropless plans, and groups of one, stay local.
DispatchPlan plan_dispatch_over_group(const config::MoeConfig& c, const PlanInputs& in, comm::Communicator& group);

// DeepSeek-V2's never-dropped sequences: a fraction of sequences chosen by a
// hash of (seed, global sequence index), independent of the batch layout.
bool protected_sequence(uint64_t seed, int64_t global_sequence, double fraction);

}  // namespace moe::model
