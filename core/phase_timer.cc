#include "core/phase_timer.h"

#include <chrono>
#include <vector>

namespace moe::prof {

namespace {
// Training runs one thread of model code per rank; the table is per process.
struct State {
  bool on = false;
  PhaseTotals totals;
  std::vector<Phase> stack;
  double last = 0;  // time of the last push/pop
};
State& state() {
  static State s;
  return s;
}
double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

// Charges the time since the last event to the phase on top of the stack.
void charge(State& s, double t) {
  if (!s.stack.empty()) s.totals.seconds[static_cast<int>(s.stack.back())] += t - s.last;
  s.last = t;
}
}  // namespace

const char* phase_name(Phase p) {
  static const char* names[kPhases] = {"attention", "router",   "dispatch",  "experts",   "combine", "dense_ffn",
                                       "embed_head", "backward", "grad_sync", "optimizer", "other"};
  return names[static_cast<int>(p)];
}

void set_enabled(bool on) { state().on = on; }
bool enabled() { return state().on; }
void reset() {
  State& s = state();
  s.totals = PhaseTotals{};
  s.last = now();
}
PhaseTotals snapshot() {
  State& s = state();
  if (s.on) charge(s, now());
  return s.totals;
}
void add_bytes(Phase p, int64_t bytes) {
  if (state().on) state().totals.bytes[static_cast<int>(p)] += bytes;
}

PhaseScope::PhaseScope(Phase p) : active_(state().on) {
  if (!active_) return;
  State& s = state();
  charge(s, now());
  s.stack.push_back(p);
  ++s.totals.calls[static_cast<int>(p)];
}

PhaseScope::~PhaseScope() {
  if (!active_) return;
  State& s = state();
  charge(s, now());
  s.stack.pop_back();
}

}  // namespace moe::prof
