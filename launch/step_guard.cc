#include "launch/step_guard.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <numeric>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/error.h"

namespace moe::launch {

std::optional<NanInjection> parse_nan_injection(const char* spec) {
  if (!spec) return std::nullopt;
  NanInjection n;
  long long first = -1, last = -1;
  int used = 0;
  const std::string s = spec;
  if (std::sscanf(spec, "%d:%lld%n", &n.rank, &first, &used) != 2)
    throw Error(absl::StrCat("MOE_INJECT_NAN=", s, ": want RANK:STEP[-LAST][:loss]"));
  last = first;
  std::string rest = s.substr(size_t(used));
  if (!rest.empty() && rest[0] == '-') {
    int more = 0;
    if (std::sscanf(rest.c_str(), "-%lld%n", &last, &more) != 1)
      throw Error(absl::StrCat("MOE_INJECT_NAN=", s, ": want RANK:STEP[-LAST][:loss]"));
    rest = rest.substr(size_t(more));
  }
  if (rest == ":loss") {
    n.loss = true;
  } else if (!rest.empty()) {
    throw Error(absl::StrCat("MOE_INJECT_NAN=", s, ": want RANK:STEP[-LAST][:loss]"));
  }
  if (n.rank < 0 || first < 0 || last < first)
    throw Error(absl::StrCat("MOE_INJECT_NAN=", s, ": want RANK >= 0 and 0 <= STEP <= LAST"));
  n.first = first;
  n.last = last;
  return n;
}

std::optional<NanInjection> nan_injection_from_env() { return parse_nan_injection(std::getenv("MOE_INJECT_NAN")); }

StepGuard::StepGuard(const config::OptimizerConfig& cfg)
    : max_skipped_(cfg.max_skipped_steps()),
      spike_factor_(cfg.loss_spike_factor()),
      window_(size_t(std::max<int64_t>(cfg.loss_spike_window(), 1))) {}

bool StepGuard::skip(comm::Communicator& world, double loss, double grad_norm) {
  int64_t bad = std::isfinite(loss) && std::isfinite(grad_norm) ? 0 : 1;
  if (world.size() > 1) bad = comm::all_reduce_values(world, std::vector<int64_t>{bad}, comm::ReduceOp::max)[0];
  if (bad == 0) {
    consecutive_ = 0;
    return false;
  }
  ++skipped_;
  ++consecutive_;
  return true;
}

std::optional<StepGuard::Spike> StepGuard::spike(double loss) {
  if (spike_factor_ <= 0) return std::nullopt;
  std::optional<Spike> out;
  if (!recent_.empty()) {
    const double mean = std::accumulate(recent_.begin(), recent_.end(), 0.0) / double(recent_.size());
    if (loss > spike_factor_ * mean) out = Spike{mean, int64_t(recent_.size())};
  }
  if (recent_.size() == window_) recent_.pop_front();
  recent_.push_back(loss);
  return out;
}

}  // namespace moe::launch
