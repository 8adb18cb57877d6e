#include "core/fp8/recipe.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/ops.h"

namespace moe::fp8 {

const char* scaling_name(Scaling s) {
  switch (s) {
    case Scaling::per_tensor_current: return "per_tensor_current";
    case Scaling::per_tensor_delayed: return "per_tensor_delayed";
    case Scaling::tilewise: return "tilewise";
  }
  return "?";
}

DelayedScaling::DelayedScaling(int64_t groups, int64_t history_len)
    : groups_(groups), len_(history_len), pending_(size_t(std::max<int64_t>(groups, 0) * kRoles), 0.0) {
  MOE_CHECK(groups >= 1, "fp8 DelayedScaling: groups must be >= 1, got ", groups);
  MOE_CHECK(history_len >= 1, "fp8 DelayedScaling: the amax history length must be >= 1, got ", history_len);
  history_ = zeros({groups, kRoles, history_len});
}

namespace {
// The scales are computed on the host, before the quantisers run, so the
// history stays host state (read and written in place on the CPU).
void check_on_host(const Tensor& h) {
  MOE_CHECK(h.device().is_cpu(), "fp8 DelayedScaling: the amax history is host state, but it is on ", h.device());
}
// The history of (group, role) as an AmaxHistory (the one update rule).
const float* row(const Tensor& h, int64_t group, Role r, int64_t len) {
  check_on_host(h);
  return h.data<float>() + (group * kRoles + int64_t(r)) * len;
}
}  // namespace

float DelayedScaling::scale(int64_t group, Role r, Format f, ScaleRounding rounding) const {
  MOE_CHECK(group >= 0 && group < groups_, "fp8 DelayedScaling: group ", group, " of ", groups_);
  const float* h = row(history_, group, r, len_);
  return AmaxHistory(std::vector<float>(h, h + len_)).scale(f, rounding);
}

void DelayedScaling::record(int64_t group, Role r, float amax) {
  MOE_CHECK(group >= 0 && group < groups_, "fp8 DelayedScaling: group ", group, " of ", groups_);
  MOE_CHECK(std::isfinite(amax) && amax >= 0, "fp8 DelayedScaling: bad amax ", amax);
  double& p = pending_[size_t(group * kRoles + int64_t(r))];
  p = std::max(p, double(amax));
}

void DelayedScaling::update() {
  check_on_host(history_);
  float* h = history_.data<float>();
  for (int64_t i = 0; i < groups_ * kRoles; ++i) {
    float* hist = h + i * len_;
    // The history is stored oldest first, so a fresh AmaxHistory from it has
    // its ring at the start: update() then overwrites the oldest entry and
    // values() returns the new oldest-first order.
    AmaxHistory a(std::vector<float>(hist, hist + len_));
    a.update(float(pending_[size_t(i)]));
    const std::vector<float> v = a.values();
    std::copy(v.begin(), v.end(), hist);
    pending_[size_t(i)] = 0.0;
  }
  history_.bump_version();
}

}  // namespace moe::fp8
