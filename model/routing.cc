#include "model/routing.h"

#include "core/error.h"
#include "core/threading.h"

namespace moe::model {

SelectionSpec selection_spec(const config::MoeConfig& c) {
  SelectionSpec s;
  s.experts = c.num_routed_experts();
  s.top_k = c.top_k();
  s.groups = c.num_groups();
  s.top_groups = c.top_k_groups();
  s.group_score = c.group_score();
  s.group_top_n = c.group_score_top_n();
  return s;
}

route_math::Spec route_spec(const SelectionSpec& s) {
  route_math::Spec r;
  r.experts = s.experts;
  r.top_k = s.top_k;
  r.groups = s.groups;
  r.top_groups = s.top_groups;
  r.topn_sum = s.group_score == config::GROUP_SCORE_TOPN_SUM;
  r.group_top_n = s.group_top_n;
  return r;
}

std::vector<int32_t> select_experts(const float* scores, const float* bias, int64_t n, const SelectionSpec& s) {
  const int64_t E = s.experts, K = s.top_k;
  const route_math::Spec r = route_spec(s);
  MOE_CHECK(route_math::consistent(r), "select_experts: inconsistent routing: E=", E, " K=", K, " G=", s.groups,
            " M=", s.top_groups);
  std::vector<int32_t> out(size_t(n * K));
  parallel_for(n, 64, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) route_math::select_token(scores + t * E, bias, r, out.data() + t * K);
  });
  return out;
}

}  // namespace moe::model
