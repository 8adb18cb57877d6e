#include "model/routing.h"

#include <algorithm>
#include <numeric>

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

namespace {

// Indices [0, n) of `v` sorted by value descending, ties by lower index.
void rank_desc(const float* v, int64_t n, std::vector<int32_t>& order) {
  order.resize(size_t(n));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [v](int32_t a, int32_t b) { return v[a] > v[b]; });
}

}  // namespace

std::vector<int32_t> select_experts(const float* scores, const float* bias, int64_t n, const SelectionSpec& s) {
  const int64_t E = s.experts, K = s.top_k, G = s.groups, M = s.top_groups;
  MOE_CHECK(E > 0 && K >= 1 && K <= E && G >= 1 && E % G == 0 && M >= 1 && M <= G && M * (E / G) >= K,
            "select_experts: inconsistent routing: E=", E, " K=", K, " G=", G, " M=", M);
  const int64_t per_group = E / G;
  std::vector<int32_t> out(size_t(n * K));
  parallel_for(n, 64, [&](int64_t b, int64_t e) {
    std::vector<float> choice(static_cast<size_t>(E)), group_score(static_cast<size_t>(G)), candidates;
    std::vector<int32_t> order, group_order, cand_ids;
    for (int64_t t = b; t < e; ++t) {
      const float* st = scores + t * E;
      for (int64_t i = 0; i < E; ++i) choice[size_t(i)] = st[i] + (bias ? bias[i] : 0.0f);
      for (int64_t g = 0; g < G; ++g) {
        const float* cg = choice.data() + g * per_group;
        if (s.group_score == config::GROUP_SCORE_TOPN_SUM) {
          rank_desc(cg, per_group, order);
          float sum = 0;
          for (int64_t j = 0; j < std::min(s.group_top_n, per_group); ++j) sum += cg[order[size_t(j)]];
          group_score[size_t(g)] = sum;
        } else {
          group_score[size_t(g)] = *std::max_element(cg, cg + per_group);
        }
      }
      rank_desc(group_score.data(), G, group_order);
      // Candidates: the experts of the M chosen groups, in expert-index order
      // so that the stable ranking below breaks ties by lower expert index.
      std::vector<char> chosen(static_cast<size_t>(G), 0);
      for (int64_t j = 0; j < M; ++j) chosen[size_t(group_order[size_t(j)])] = 1;
      candidates.clear();
      cand_ids.clear();
      for (int64_t i = 0; i < E; ++i) {
        if (!chosen[size_t(i / per_group)]) continue;
        candidates.push_back(choice[size_t(i)]);
        cand_ids.push_back(int32_t(i));
      }
      rank_desc(candidates.data(), int64_t(candidates.size()), order);
      for (int64_t k = 0; k < K; ++k) out[size_t(t * K + k)] = cand_ids[size_t(order[size_t(k)])];
    }
  });
  return out;
}

}  // namespace moe::model
