#include "model/dispatch_plan.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "core/error.h"
#include "core/ops.h"
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
  DispatchPlan p;  // only p.keep is filled here; plan_from_keep does the rest
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
  return plan_from_keep(std::move(p.keep), in);
}

DispatchPlan plan_from_keep(std::vector<uint8_t> keep, const PlanInputs& in) {
  const int64_t N = in.tokens, K = in.top_k, E = in.experts;
  MOE_CHECK(int64_t(keep.size()) == N * K, "plan_from_keep: ", keep.size(), " flags for ", N * K, " assignments");
  DispatchPlan p;
  p.keep = std::move(keep);
  // Travel order: by expert, then by the token's position in this batch.
  p.expert_rows.assign(size_t(E), 0);
  for (int64_t a = 0; a < N * K; ++a)
    if (p.keep[size_t(a)]) ++p.expert_rows[size_t(in.experts_of[a])];
  std::vector<int64_t> next(size_t(E), 0);
  for (int64_t e = 1; e < E; ++e) next[size_t(e)] = next[size_t(e - 1)] + p.expert_rows[size_t(e - 1)];
  const int64_t kept = E > 0 ? next[size_t(E - 1)] + p.expert_rows[size_t(E - 1)] : 0;
  p.assignments.resize(size_t(kept));
  p.tokens.resize(size_t(kept));
  for (int64_t a = 0; a < N * K; ++a) {
    if (!p.keep[size_t(a)]) continue;
    const int64_t slot = next[size_t(in.experts_of[a])]++;
    p.assignments[size_t(slot)] = a;
    p.tokens[size_t(slot)] = a / K;
  }
  p.dropped = N * K - kept;
  return p;
}

DispatchPlan plan_dispatch_over_group(const config::MoeConfig& c, const PlanInputs& in, comm::Communicator& ep) {
  if (ep.size() == 1 || c.drop_policy() == config::DROP_NONE) return plan_dispatch(c, in);
  // Every rank gathers the group's selections and decides for all of them,
  // exactly as one rank routing the group's tokens at once would.
  const int64_t N = in.tokens, K = in.top_k;
  auto as_tensor = [](const auto* p, int64_t n, DType t) {
    Tensor x = empty({n}, t);
    std::memcpy(x.raw_data(), p, size_t(n) * dtype_size(t));
    return x;
  };
  std::vector<uint8_t> no_protect;
  const uint8_t* prot = in.protect;
  if (!prot) {
    no_protect.assign(size_t(N), 0);
    prot = no_protect.data();
  }
  const Tensor experts = ep.all_gather(as_tensor(in.experts_of, N * K, DType::i32));
  const Tensor affinity = ep.all_gather(as_tensor(in.affinity, N * K, DType::f32));
  const Tensor keys = ep.all_gather(as_tensor(in.token_key, N, DType::i64));
  const Tensor protect = ep.all_gather(as_tensor(prot, N, DType::b8));
  MOE_CHECK(experts.numel() == N * K * ep.size(), "plan_dispatch_over_group: ranks of group '", ep.name(),
            "' route different token counts (this rank ", N, ")");
  PlanInputs all = in;
  all.tokens = N * ep.size();
  all.experts_of = experts.data<int32_t>();
  all.affinity = affinity.data<float>();
  all.token_key = keys.data<int64_t>();
  all.protect = protect.data<uint8_t>();
  const DispatchPlan group = plan_dispatch(c, all);
  const auto first = group.keep.begin() + int64_t(ep.rank()) * N * K;
  return plan_from_keep(std::vector<uint8_t>(first, first + N * K), in);
}

}  // namespace moe::model
