#pragma once
// Per-phase wall-time and byte accounting for step breakdowns (moe-bench
// sweeps). PhaseScope charges its own (exclusive) time to a phase: time
// spent in a nested scope goes to the nested phase only. Off by default;
// when off a scope costs one branch.
#include <array>
#include <cstdint>

namespace moe::prof {

enum class Phase : int {
  attention, router, dispatch, experts, combine, dense_ffn, embed_head, backward, grad_sync, optimizer, other, count
};
constexpr int kPhases = static_cast<int>(Phase::count);
const char* phase_name(Phase p);

struct PhaseTotals {
  std::array<double, kPhases> seconds{};
  std::array<int64_t, kPhases> bytes{};
  std::array<int64_t, kPhases> calls{};
};

void set_enabled(bool on);
bool enabled();
void reset();
PhaseTotals snapshot();
// Bytes this rank sent in `p` (communication phases).
void add_bytes(Phase p, int64_t bytes);

class PhaseScope {
 public:
  explicit PhaseScope(Phase p);
  ~PhaseScope();
  PhaseScope(const PhaseScope&) = delete;
  PhaseScope& operator=(const PhaseScope&) = delete;

 private:
  bool active_;
};

}  // namespace moe::prof
