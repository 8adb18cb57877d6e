#pragma once
// Expert selection (pure functions on router scores, no autograd):
// device-limited top-K (DeepSeek-V2 §2.2.2) with the optional selection bias
// of aux-loss-free balancing (DeepSeek-V3 §2.1.2).
#include <cstdint>
#include <vector>

#include "core/kernels/route_math.h"
#include "model/config.pb.h"

namespace moe::model {

struct SelectionSpec {
  int64_t experts = 0;     // E, routed experts
  int64_t top_k = 0;       // K
  int64_t groups = 1;      // G: experts [g*E/G, (g+1)*E/G) form group g (one device)
  int64_t top_groups = 1;  // M: groups a token may use
  config::GroupScore group_score = config::GROUP_SCORE_MAX;
  int64_t group_top_n = 2;  // GROUP_SCORE_TOPN_SUM: the group's n best scores are summed
};
SelectionSpec selection_spec(const config::MoeConfig& c);
// The same spec for the router's op (core/kernels/route_math.h).
route_math::Spec route_spec(const SelectionSpec& s);

// For each of n tokens (row-major scores [n, E]), the K selected experts in
// order of preference. Selection ranks choice = score + bias (bias may be
// null): the M groups with the highest group score are chosen first, then
// the K highest choices among those groups' experts only (the others are
// out of the running, as if masked with -inf, never 0). Exact values, stable
// order: ties go to the lower group / expert index; NaN ranks as -inf.
// At most 64 groups. Returns [n * K]. route_topk (core/ops.h) is the same
// selection on the scores' device.
std::vector<int32_t> select_experts(const float* scores, const float* bias, int64_t n, const SelectionSpec& s);

}  // namespace moe::model
