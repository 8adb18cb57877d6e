#include "model/dispatch_plan.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.h"
#include "core/random.h"

namespace moe::model {

// ceil(tokens * K / experts * cf) in double, in this order (DESIGN.md).
int64_t expert_capacity(double cf, int64_t tokens, int64_t top_k, int64_t experts) {
  return int64_t(std::ceil(double(tokens * top_k) / double(experts) * cf));
}

int64_t device_budget(double cf, int64_t tokens, int64_t top_k, int64_t groups) {
  return expert_capacity(cf, tokens, top_k, groups);
}

bool protected_sequence(uint64_t seed, int64_t global_sequence, double fraction) {
  if (fraction <= 0) return false;
  // Stream constant: "protect" in ASCII, so these draws are independent of
  // every other random stream keyed by the same seed.
  const philox::U4 r = philox::philox4x32_10(seed, 0x70726f74656374ull, uint64_t(global_sequence));
  return double(r.x[0]) / 4294967296.0 < fraction;
}

namespace {

// Keeps at most `limit` of the assignments in `bucket` (indices a = t*K+k),
// best-ranked first; protected ones are kept regardless and count first.
void enforce_limit(std::vector<int64_t>& bucket, int64_t limit, const PlanInputs& in, std::vector<uint8_t>& keep) {
  if (int64_t(bucket.size()) <= limit) return;
  const int64_t K = in.top_k;
  auto better = [&](int64_t a, int64_t b) {
    if (in.affinity[a] != in.affinity[b]) return in.affinity[a] > in.affinity[b];
    const int64_t ka = in.token_key[a / K], kb = in.token_key[b / K];
    if (ka != kb) return ka < kb;
    return a % K < b % K;
  };
  std::sort(bucket.begin(), bucket.end(), better);
  int64_t room = limit;
  if (in.protect) {
    for (int64_t a : bucket)
      if (in.protect[a / K]) --room;
  }
  for (int64_t a : bucket) {
    if (in.protect && in.protect[a / K]) continue;
    if (room > 0) {
      --room;
    } else {
      keep[size_t(a)] = 0;
    }
  }
}

}  // namespace

DispatchPlan plan_dispatch(const config::MoeConfig& c, const PlanInputs& in) {
  const int64_t N = in.tokens, K = in.top_k, E = in.experts, G = in.groups;
  MOE_CHECK(E > 0 && G > 0 && E % G == 0, "plan_dispatch: ", E, " experts in ", G, " groups");
  DispatchPlan p;
  p.keep.assign(size_t(N * K), 1);
  std::vector<std::vector<int64_t>> by_expert(static_cast<size_t>(E));
  for (int64_t a = 0; a < N * K; ++a) {
    const int32_t e = in.experts_of[a];
    MOE_CHECK(e >= 0 && e < E, "plan_dispatch: expert id ", e, " out of range [0, ", E, ")");
    by_expert[size_t(e)].push_back(a);
  }
  if (c.drop_policy() == config::DROP_EXPERT_CAPACITY) {
    const int64_t cap = expert_capacity(c.capacity_factor(), N, K, E);
    PlanInputs no_protect = in;
    no_protect.protect = nullptr;  // per-expert capacity protects nobody
    for (auto& bucket : by_expert) {
      std::vector<int64_t> b = bucket;
      enforce_limit(b, cap, no_protect, p.keep);
    }
  } else if (c.drop_policy() == config::DROP_DEVICE_BUDGET) {
    const int64_t budget = device_budget(c.capacity_factor(), N, K, G), per_group = E / G;
    for (int64_t g = 0; g < G; ++g) {
      std::vector<int64_t> bucket;
      for (int64_t e = g * per_group; e < (g + 1) * per_group; ++e)
        bucket.insert(bucket.end(), by_expert[size_t(e)].begin(), by_expert[size_t(e)].end());
      enforce_limit(bucket, budget, in, p.keep);
    }
  }
  // Travel order: by expert, then by the token's position in this batch
  // (assignment ids ascend with the token within an expert's bucket).
  p.expert_rows.assign(size_t(E), 0);
  for (int64_t e = 0; e < E; ++e) {
    for (int64_t a : by_expert[size_t(e)]) {
      if (!p.keep[size_t(a)]) continue;
      p.assignments.push_back(a);
      p.tokens.push_back(a / K);
      ++p.expert_rows[size_t(e)];
    }
  }
  p.dropped = N * K - int64_t(p.assignments.size());
  return p;
}

}  // namespace moe::model
