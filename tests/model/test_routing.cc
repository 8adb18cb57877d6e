// Properties of expert selection and of the dispatch plan on random inputs.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <set>
#include <tuple>

#include "core/ops.h"
#include "model/dispatch_plan.h"
#include "model/moe_layer.h"
#include "model/routing.h"

namespace moe::model {
namespace {

std::vector<float> random_scores(int64_t n, int64_t e, uint64_t seed) {
  const Tensor t = softmax(randn({n, e}, seed), -1);
  return std::vector<float>(t.data<float>(), t.data<float>() + n * e);
}

SelectionSpec spec(int64_t e, int64_t k, int64_t g, int64_t m, config::GroupScore gs) {
  SelectionSpec s;
  s.experts = e;
  s.top_k = k;
  s.groups = g;
  s.top_groups = m;
  s.group_score = gs;
  return s;
}

TEST(Routing, ExpertsLieInAtMostMGroupsAndAreTheBestThere) {
  for (auto gs : {config::GROUP_SCORE_MAX, config::GROUP_SCORE_TOPN_SUM}) {
    for (uint64_t seed = 1; seed <= 5; ++seed) {
      const int64_t n = 50, E = 16, K = 4, G = 4, M = 2;
      const std::vector<float> s = random_scores(n, E, seed);
      const std::vector<float> bias = [&] {
        const Tensor b = mul(randn({E}, seed + 100), 0.05);
        return std::vector<float>(b.data<float>(), b.data<float>() + E);
      }();
      const std::vector<int32_t> sel = select_experts(s.data(), bias.data(), n, spec(E, K, G, M, gs));
      for (int64_t t = 0; t < n; ++t) {
        std::set<int32_t> groups, experts;
        for (int64_t k = 0; k < K; ++k) {
          groups.insert(sel[size_t(t * K + k)] / (E / G));
          experts.insert(sel[size_t(t * K + k)]);
        }
        EXPECT_LE(int64_t(groups.size()), M);
        EXPECT_EQ(int64_t(experts.size()), K);
        // Within the chosen groups no unselected expert beats a selected one.
        float worst = 1e9f;
        for (int32_t e : experts) worst = std::min(worst, s[size_t(t * E + e)] + bias[size_t(e)]);
        for (int64_t e = 0; e < E; ++e) {
          if (groups.count(int32_t(e / (E / G))) && !experts.count(int32_t(e))) {
            EXPECT_LE(s[size_t(t * E + e)] + bias[size_t(e)], worst);
          }
        }
      }
    }
  }
}

// The selection against a plain sort-based statement of the rule: stable
// sorts by value descending (ties to the lower index) of the group scores,
// then of the chosen groups' experts. Scores on a few levels, so ties are
// common.
std::vector<int32_t> sorted_reference(const std::vector<float>& sc, const std::vector<float>& bias, int64_t n,
                                      const SelectionSpec& s) {
  const int64_t E = s.experts, G = s.groups, per = E / G;
  std::vector<int32_t> out;
  auto rank = [](const std::vector<float>& v) {
    std::vector<int32_t> o(v.size());
    std::iota(o.begin(), o.end(), 0);
    std::stable_sort(o.begin(), o.end(), [&](int32_t a, int32_t b) { return v[size_t(a)] > v[size_t(b)]; });
    return o;
  };
  for (int64_t t = 0; t < n; ++t) {
    std::vector<float> ch(static_cast<size_t>(E));
    for (int64_t i = 0; i < E; ++i) ch[size_t(i)] = sc[size_t(t * E + i)] + bias[size_t(i)];
    std::vector<float> gscore(static_cast<size_t>(G));
    for (int64_t g = 0; g < G; ++g) {
      const std::vector<float> grp(ch.begin() + g * per, ch.begin() + (g + 1) * per);
      const std::vector<int32_t> o = rank(grp);
      const int64_t take = s.group_score == config::GROUP_SCORE_TOPN_SUM ? std::min(s.group_top_n, per) : 1;
      float sum = 0;
      for (int64_t j = 0; j < take; ++j) sum = j == 0 ? grp[size_t(o[size_t(j)])] : sum + grp[size_t(o[size_t(j)])];
      gscore[size_t(g)] = sum;
    }
    const std::vector<int32_t> go = rank(gscore);
    std::vector<float> cand;
    std::vector<int32_t> ids;
    for (int64_t i = 0; i < E; ++i)
      if (std::find(go.begin(), go.begin() + s.top_groups, int32_t(i / per)) != go.begin() + s.top_groups) {
        cand.push_back(ch[size_t(i)]);
        ids.push_back(int32_t(i));
      }
    const std::vector<int32_t> co = rank(cand);
    for (int64_t k = 0; k < s.top_k; ++k) out.push_back(ids[size_t(co[size_t(k)])]);
  }
  return out;
}

TEST(Routing, SelectionEqualsTheSortedStatementOfTheRule) {
  for (auto gs : {config::GROUP_SCORE_MAX, config::GROUP_SCORE_TOPN_SUM})
    for (auto [E, K, G, M] : {std::tuple<int64_t, int64_t, int64_t, int64_t>{16, 4, 4, 2}, {64, 6, 8, 3},
                              {12, 3, 3, 3}, {8, 8, 1, 1}})
      for (uint64_t seed = 1; seed <= 3; ++seed) {
        const int64_t n = 97;
        std::vector<float> s = random_scores(n, E, seed);
        for (float& x : s) x = std::round(x * 8.0f) / 8.0f;  // ties
        std::vector<float> bias(size_t(E), 0.0f);
        for (int64_t i = 0; i < E; ++i) bias[size_t(i)] = float((i * 5) % 3) * 0.125f;
        const SelectionSpec sp = spec(E, K, G, M, gs);
        EXPECT_EQ(select_experts(s.data(), bias.data(), n, sp), sorted_reference(s, bias, n, sp))
            << "E" << E << " K" << K << " G" << G << " M" << M << " seed " << seed;
      }
}

// NaN scores rank as -inf: still K distinct, valid experts.
TEST(Routing, NanScoresStillSelectKValidExperts) {
  const float nan = std::nanf("");
  const std::vector<float> s = {nan, 0.2f, nan, 0.1f, nan, nan, nan, nan};
  const std::vector<int32_t> sel = select_experts(s.data(), nullptr, 1, spec(8, 4, 2, 2, config::GROUP_SCORE_MAX));
  EXPECT_EQ(sel, (std::vector<int32_t>{1, 3, 0, 2}));
}

// The layer's device-side travel order (expert_order) is the plan's own.
TEST(DispatchPlan, ExpertOrderOpEqualsThePlansOrder) {
  const int64_t N = 300, E = 16, K = 4;
  const std::vector<float> s = random_scores(N, E, 11);
  const std::vector<int32_t> sel = select_experts(s.data(), nullptr, N, spec(E, K, 1, 1, config::GROUP_SCORE_MAX));
  std::vector<uint8_t> keep(size_t(N * K), 1);
  for (size_t a = 0; a < keep.size(); a += 7) keep[a] = 0;
  std::vector<float> aff(size_t(N * K), 0.5f);
  std::vector<int64_t> key(static_cast<size_t>(N));
  std::iota(key.begin(), key.end(), 0);
  const PlanInputs in{N, K, E, 1, sel.data(), aff.data(), key.data(), nullptr};
  const DispatchPlan p = plan_from_keep(keep, in);
  std::vector<double> ex(sel.begin(), sel.end()), kp(keep.begin(), keep.end());
  const ExpertOrder o = expert_order(from_vector(ex, {N * K}, DType::f64).to(DType::i32),
                                     from_vector(kp, {N * K}, DType::f64).to(DType::b8), E, K,
                                     int64_t(p.assignments.size()));
  const std::vector<double> oa = o.assignments.to_vector(), ot = o.tokens.to_vector();
  EXPECT_EQ(std::vector<int64_t>(oa.begin(), oa.end()), p.assignments);
  EXPECT_EQ(std::vector<int64_t>(ot.begin(), ot.end()), p.tokens);
  // A wrong count of kept assignments is an error, not a short write.
  EXPECT_THROW(expert_order(from_vector(ex, {N * K}, DType::f64).to(DType::i32), Tensor(), E, K, 3), Error);
}

// A negative bias must not let experts of an unchosen group in (the -inf,
// not 0, masking rule).
TEST(Routing, NegativeBiasNeverSelectsMaskedGroups) {
  const std::vector<float> s = {0.4f, 0.3f, 0.2f, 0.1f};
  const std::vector<float> bias = {-5.0f, -5.0f, -6.0f, -6.0f};
  // Groups {0,1} and {2,3}; M = 1: group 0 wins on choice (-4.6 vs -5.8).
  const auto sel = select_experts(s.data(), bias.data(), 1, spec(4, 2, 2, 1, config::GROUP_SCORE_MAX));
  EXPECT_EQ(sel, (std::vector<int32_t>{0, 1}));
}

TEST(Routing, BiasChangesSelectionButNotGates) {
  config::MoeConfig c;
  c.set_num_routed_experts(8);
  c.set_top_k(2);
  c.set_selection_bias(true);
  c.set_score_function(config::SCORE_SIGMOID);
  const Tensor x = randn({64, 6}, 1), w = randn({8, 6}, 2);
  Tensor bias = zeros({8});
  const Routing plain = route(c, x, w, bias);
  bias.data<float>()[plain.experts[0]] = -10.0f;  // push token 0's first expert out
  const Routing biased = route(c, x, w, bias);
  EXPECT_NE(plain.experts, biased.experts);
  // Every gate is the unbiased score of its expert.
  const std::vector<double> sc = biased.scores.to_vector(), g = biased.gates.to_vector();
  for (size_t a = 0; a < biased.experts.size(); ++a)
    EXPECT_EQ(g[a], sc[a / 2 * 8 + size_t(biased.experts[a])]);
}

TEST(DispatchPlan, CapacityAndBudgetInDouble) {
  EXPECT_EQ(expert_capacity(1.0, 10, 2, 4), 5);
  EXPECT_EQ(expert_capacity(1.1, 12, 2, 8), 4);   // 3.3 -> 4
  EXPECT_EQ(expert_capacity(0.7, 10, 1, 7), 1);   // exactly 1.0: not 2
  EXPECT_EQ(expert_capacity(1.25, 768, 2, 8), 240);
  EXPECT_EQ(device_budget(1.0, 100, 6, 8), 75);
}

struct Case {
  std::vector<int32_t> experts;
  std::vector<float> affinity;
  std::vector<int64_t> key;
  std::vector<uint8_t> protect;
};

Case random_case(int64_t B, int64_t T, int64_t E, int64_t K, uint64_t seed, double protect_fraction) {
  const std::vector<float> s = random_scores(B * T, E, seed);
  Case c;
  c.experts = select_experts(s.data(), nullptr, B * T, spec(E, K, 1, 1, config::GROUP_SCORE_MAX));
  for (size_t a = 0; a < c.experts.size(); ++a)
    c.affinity.push_back(s[a / size_t(K) * size_t(E) + size_t(c.experts[a])]);
  for (int64_t b = 0; b < B; ++b) {
    const bool p = protected_sequence(seed, b, protect_fraction);
    for (int64_t t = 0; t < T; ++t) {
      c.key.push_back(b * T + t);
      c.protect.push_back(p);
    }
  }
  return c;
}

// The kept set as (global token, expert) pairs.
std::set<std::pair<int64_t, int32_t>> kept(const Case& c, const DispatchPlan& p, int64_t K) {
  std::set<std::pair<int64_t, int32_t>> out;
  for (size_t a = 0; a < p.keep.size(); ++a)
    if (p.keep[a]) out.insert({c.key[a / size_t(K)], c.experts[a]});
  return out;
}

TEST(DispatchPlan, ExpertCapacityNeverExceededLowestGatesDropped) {
  const int64_t B = 4, T = 16, E = 8, K = 2;
  config::MoeConfig cfg;
  cfg.set_drop_policy(config::DROP_EXPERT_CAPACITY);
  cfg.set_capacity_factor(0.8);
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    const Case c = random_case(B, T, E, K, seed, 0);
    const DispatchPlan p = plan_dispatch(cfg, {B * T, K, E, 1, c.experts.data(), c.affinity.data(), c.key.data(), nullptr});
    const int64_t cap = expert_capacity(0.8, B * T, K, E);
    int64_t total = 0;
    for (int64_t e = 0; e < E; ++e) {
      EXPECT_LE(p.expert_rows[size_t(e)], cap);
      total += p.expert_rows[size_t(e)];
      // Every dropped assignment of e ranks below every kept one.
      float min_kept = 2, max_dropped = -1;
      for (size_t a = 0; a < p.keep.size(); ++a) {
        if (c.experts[a] != e) continue;
        if (p.keep[a]) min_kept = std::min(min_kept, c.affinity[a]);
        else max_dropped = std::max(max_dropped, c.affinity[a]);
      }
      EXPECT_LE(max_dropped, min_kept);
    }
    EXPECT_EQ(total + p.dropped, B * T * K);
    EXPECT_GT(p.dropped, 0);
    // The travel order is by expert, then token.
    for (size_t i = 1; i < p.assignments.size(); ++i) {
      const auto prev = std::make_pair(c.experts[size_t(p.assignments[i - 1])], p.tokens[i - 1]);
      const auto cur = std::make_pair(c.experts[size_t(p.assignments[i])], p.tokens[i]);
      EXPECT_LT(prev, cur);
    }
  }
}

TEST(DispatchPlan, DeviceBudgetHoldsAndProtectedSequencesAreNeverDropped) {
  const int64_t B = 20, T = 8, E = 8, K = 2, G = 4;
  config::MoeConfig cfg;
  cfg.set_drop_policy(config::DROP_DEVICE_BUDGET);
  cfg.set_capacity_factor(0.7);
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    const Case c = random_case(B, T, E, K, seed, 0.3);
    const DispatchPlan p = plan_dispatch(
        cfg, {B * T, K, E, G, c.experts.data(), c.affinity.data(), c.key.data(), c.protect.data()});
    const int64_t budget = device_budget(0.7, B * T, K, G);
    std::vector<int64_t> per_dev(size_t(G), 0), protected_per_dev(size_t(G), 0);
    for (size_t a = 0; a < p.keep.size(); ++a) {
      const int64_t d = c.experts[a] / (E / G);
      if (c.protect[a / size_t(K)]) {
        EXPECT_TRUE(p.keep[a]) << "protected token dropped";
        ++protected_per_dev[size_t(d)];
      }
      per_dev[size_t(d)] += p.keep[a];
    }
    for (int64_t d = 0; d < G; ++d) EXPECT_LE(per_dev[size_t(d)], std::max(budget, protected_per_dev[size_t(d)]));
    EXPECT_GT(p.dropped, 0);
  }
  // About the configured fraction of sequences is protected.
  int n = 0;
  for (int64_t s = 0; s < 10000; ++s) n += protected_sequence(42, s, 0.1);
  EXPECT_NEAR(n / 10000.0, 0.1, 0.01);
}

// The decision depends only on each token's identity and scores, not on
// where its sequence sits in the batch.
TEST(DispatchPlan, IndependentOfSequenceOrder) {
  const int64_t B = 6, T = 8, E = 8, K = 2, G = 2;
  for (auto policy : {config::DROP_EXPERT_CAPACITY, config::DROP_DEVICE_BUDGET}) {
    config::MoeConfig cfg;
    cfg.set_drop_policy(policy);
    cfg.set_capacity_factor(0.6);
    const Case c = random_case(B, T, E, K, 9, 0.2);
    const DispatchPlan p = plan_dispatch(
        cfg, {B * T, K, E, G, c.experts.data(), c.affinity.data(), c.key.data(), c.protect.data()});
    // Reverse the sequences (tokens keep their global keys).
    Case r;
    for (int64_t b = B - 1; b >= 0; --b) {
      for (int64_t t = 0; t < T; ++t) {
        const size_t tok = size_t(b * T + t);
        r.key.push_back(c.key[tok]);
        r.protect.push_back(c.protect[tok]);
        for (int64_t k = 0; k < K; ++k) {
          r.experts.push_back(c.experts[tok * size_t(K) + size_t(k)]);
          r.affinity.push_back(c.affinity[tok * size_t(K) + size_t(k)]);
        }
      }
    }
    const DispatchPlan q = plan_dispatch(
        cfg, {B * T, K, E, G, r.experts.data(), r.affinity.data(), r.key.data(), r.protect.data()});
    EXPECT_EQ(kept(c, p, K), kept(r, q, K));
    EXPECT_GT(p.dropped, 0);
  }
}

}  // namespace
}  // namespace moe::model
