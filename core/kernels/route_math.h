#pragma once
// Expert selection of one token (device-limited top-K with an optional
// selection bias), shared by the CPU and the CUDA router so both pick the
// same experts bit for bit. Rankings are by value descending, ties to the
// lower index: the k-th pick is the best element ranked after the (k-1)-th,
// so no sort buffer is needed (O(K * E) per token, registers only on a GPU).
#include <cmath>
#include <cstdint>

#include "core/hd.h"

namespace moe::route_math {

struct Spec {
  int64_t experts = 0;     // E
  int64_t top_k = 0;       // K
  int64_t groups = 1;      // G (at most 64): experts [g*E/G, (g+1)*E/G) form group g
  int64_t top_groups = 1;  // M: groups a token may use
  bool topn_sum = false;   // group score: sum of its group_top_n best (else its best)
  int64_t group_top_n = 2;
};

constexpr int64_t kMaxGroups = 64;

// The spec's sizes agree: 1 <= K <= E, G | E, G <= 64, 1 <= M <= G, the M
// groups hold at least K experts, n >= 1 for a top-n group score.
inline bool consistent(const Spec& s) {
  return s.experts > 0 && s.top_k >= 1 && s.top_k <= s.experts && s.groups >= 1 && s.groups <= kMaxGroups &&
         s.experts % s.groups == 0 && s.top_groups >= 1 && s.top_groups <= s.groups &&
         s.top_groups * (s.experts / s.groups) >= s.top_k && (!s.topn_sum || s.group_top_n >= 1);
}

// Whether (va, a) ranks before (vb, b): higher value, then lower index.
MOE_HD bool before(float va, int64_t a, float vb, int64_t b) { return va > vb || (va == vb && a < b); }

// The choice of expert i: score plus bias. NaN ranks as -inf, so a NaN
// score still yields K valid experts (the step guard deals with the NaN).
MOE_HD float choice(const float* scores, const float* bias, int64_t i) {
  const float v = scores[i] + (bias ? bias[i] : 0.0f);
  return v == v ? v : -INFINITY;
}

// The best of experts [lo, hi) ranked after (pv, p) (p < 0: no bound), with
// `allowed` deciding which take part; -1 when none is left.
template <typename Allowed>
MOE_HD int64_t next_best(const float* scores, const float* bias, int64_t lo, int64_t hi, float pv, int64_t p,
                         Allowed allowed) {
  int64_t best = -1;
  float bv = 0.0f;
  for (int64_t i = lo; i < hi; ++i) {
    if (!allowed(i)) continue;
    const float v = choice(scores, bias, i);
    if (p >= 0 && !before(pv, p, v, i)) continue;
    if (best < 0 || before(v, i, bv, best)) best = i, bv = v;
  }
  return best;
}

// Group g's score: its best choice, or the sum of its n best in rank order.
MOE_HD float group_score(const float* scores, const float* bias, const Spec& s, int64_t g) {
  const int64_t per = s.experts / s.groups, lo = g * per, hi = lo + per;
  const auto all = [](int64_t) { return true; };
  const int64_t n = s.topn_sum ? (s.group_top_n < per ? s.group_top_n : per) : 1;
  float sum = 0.0f, pv = 0.0f;
  int64_t p = -1;
  for (int64_t j = 0; j < n; ++j) {
    p = next_best(scores, bias, lo, hi, pv, p, all);
    pv = choice(scores, bias, p);
    sum = j == 0 ? pv : sum + pv;
  }
  return sum;
}

// out[0..K) = the K selected experts of one token (scores [E], bias [E] or
// null), best first: the M groups with the highest scores first, then the K
// best choices among their experts.
MOE_HD void select_token(const float* scores, const float* bias, const Spec& s, int32_t* out) {
  const int64_t per = s.experts / s.groups;
  uint64_t chosen = 0;  // bit g: group g is among the M best
  if (s.top_groups >= s.groups) {
    chosen = s.groups >= 64 ? ~uint64_t(0) : (uint64_t(1) << s.groups) - 1;
  } else {
    float pv = 0.0f;
    int64_t p = -1;
    for (int64_t j = 0; j < s.top_groups; ++j) {
      int64_t best = -1;
      float bv = 0.0f;
      for (int64_t g = 0; g < s.groups; ++g) {
        if ((chosen >> g) & 1u) continue;
        const float v = group_score(scores, bias, s, g);
        if (p >= 0 && !before(pv, p, v, g)) continue;
        if (best < 0 || before(v, g, bv, best)) best = g, bv = v;
      }
      chosen |= uint64_t(1) << best;
      p = best;
      pv = bv;
    }
  }
  const auto in_chosen = [chosen, per](int64_t i) { return ((chosen >> (i / per)) & 1u) != 0; };
  float pv = 0.0f;
  int64_t p = -1;
  for (int64_t k = 0; k < s.top_k; ++k) {
    p = next_best(scores, bias, 0, s.experts, pv, p, in_chosen);
    pv = choice(scores, bias, p);
    out[k] = int32_t(p);
  }
}

}  // namespace moe::route_math
