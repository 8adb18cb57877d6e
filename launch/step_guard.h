#pragma once
// The trainer's step guard: a step whose global loss or gradient norm is not
// finite is skipped (no optimizer step, no other update), optim.max_skipped_steps
// skipped steps in a row end the run, and a loss far above the recent mean is
// reported as a spike. Also the MOE_INJECT_NAN test hook that exercises it.
#include <cstdint>
#include <deque>
#include <optional>

#include "comm/communicator.h"
#include "optim/config.pb.h"

namespace moe::launch {

// MOE_INJECT_NAN="RANK:STEP[-LAST][:loss]": on that rank, at steps STEP to
// LAST (default STEP), the gradients are NaN (the backward runs on loss x
// NaN, so the NaN reaches the other ranks through the real gradient
// reduction), or with ":loss" the step's reported loss is NaN while the
// gradients stay finite.
struct NanInjection {
  int rank = -1;
  int64_t first = -1, last = -1;
  bool loss = false;
  bool at(int r, int64_t step) const { return r == rank && step >= first && step <= last; }
};
// nullopt when the variable is unset; a malformed value throws moe::Error
// naming the variable and the expected form.
std::optional<NanInjection> nan_injection_from_env();
std::optional<NanInjection> parse_nan_injection(const char* spec);

class StepGuard {
 public:
  explicit StepGuard(const config::OptimizerConfig& cfg);

  // Collective over `world`: whether this step is skipped, the same verdict
  // on every rank (one max-reduce of each rank's view of the reduced loss and
  // norm, so a rounding difference between ranks cannot split them).
  // Counts the skip, or resets the run of skipped steps.
  bool skip(comm::Communicator& world, double loss, double grad_norm);
  int64_t skipped() const { return skipped_; }          // in this run
  int64_t consecutive() const { return consecutive_; }  // ending at the last step
  // optim.max_skipped_steps skipped steps in a row (never when it is 0).
  bool exhausted() const { return max_skipped_ > 0 && consecutive_ >= max_skipped_; }

  // After an updated step: whether its loss exceeds loss_spike_factor x the
  // mean of the previous loss_spike_window updated steps' losses (fewer at
  // the start: a run that blows up in its first steps is reported too;
  // never when the factor is 0). The loss then joins the window.
  struct Spike {
    double mean = 0;     // of the losses compared with
    int64_t over = 0;    // how many there were
  };
  std::optional<Spike> spike(double loss);

 private:
  int64_t max_skipped_;
  double spike_factor_;
  size_t window_;
  int64_t skipped_ = 0, consecutive_ = 0;
  std::deque<double> recent_;  // the last window_ updated steps' losses, oldest first
};

}  // namespace moe::launch
