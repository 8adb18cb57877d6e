#pragma once
// Learning-rate schedules. Every kind starts with nanoGPT's linear warmup:
// lr = base * (step + 1) / (warmup + 1) for step < warmup (so step 0 is not 0).
#include <cstdint>

#include "absl/status/status.h"
#include "optim/config.pb.h"

namespace moe::optim {

// The learning rate of `step` (0-based) in a run of `total_steps` steps.
// After the warmup:
//   COSINE     nanoGPT's get_lr: min_lr + 0.5 (1 + cos(pi r)) (base - min_lr),
//              r = (step - warmup) / (total - warmup); min_lr from step total on.
//   MULTISTEP  DeepSeek: base * gamma^k, k = number of milestones m (fractions
//              of total_steps; empty: 0.8, 0.9) with step >= round(m * total).
//   WSD        base until decay_start = total - round(decay_fraction * total),
//              then linear to min_lr at step total:
//              base + (min_lr - base) (step - decay_start) / (total - decay_start).
//   CONSTANT   base.
// Throws moe::Error for step < 0 or total_steps < 1 (validate_schedule first).
double lr_at(const config::ScheduleConfig& cfg, double base_lr, int64_t step, int64_t total_steps);

// Checks the fields lr_at relies on; names the offending field.
absl::Status validate_schedule(const config::ScheduleConfig& cfg, int64_t total_steps);

}  // namespace moe::optim
