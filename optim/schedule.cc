#include "optim/schedule.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "absl/strings/str_cat.h"
#include "core/error.h"

namespace moe::optim {

namespace {

// Milestone fractions are rounded to whole steps once, so that e.g. 0.8 * 1000
// is step 800 whatever the floating-point product's last bit.
int64_t fraction_to_step(double fraction, int64_t total_steps) {
  return int64_t(std::llround(fraction * double(total_steps)));
}

double cosine(const config::ScheduleConfig& cfg, double base, int64_t step, int64_t total, int64_t warmup) {
  if (step >= total) return cfg.min_lr();
  const double r = double(step - warmup) / double(total - warmup);
  const double coeff = 0.5 * (1.0 + std::cos(std::numbers::pi * r));
  return cfg.min_lr() + coeff * (base - cfg.min_lr());
}

double multistep(const config::ScheduleConfig& cfg, double base, int64_t step, int64_t total) {
  static const double kDefault[] = {0.8, 0.9};
  double lr = base;
  auto apply = [&](double m) {
    if (step >= fraction_to_step(m, total)) lr *= cfg.gamma();
  };
  if (cfg.milestones_size() == 0) {
    for (double m : kDefault) apply(m);
  } else {
    for (double m : cfg.milestones()) apply(m);
  }
  return lr;
}

double wsd(const config::ScheduleConfig& cfg, double base, int64_t step, int64_t total) {
  const int64_t decay_start = total - fraction_to_step(cfg.decay_fraction(), total);
  if (step < decay_start) return base;
  if (step >= total) return cfg.min_lr();
  const double r = double(step - decay_start) / double(total - decay_start);
  return base + (cfg.min_lr() - base) * r;
}

}  // namespace

double lr_at(const config::ScheduleConfig& cfg, double base_lr, int64_t step, int64_t total_steps) {
  MOE_CHECK(step >= 0 && total_steps >= 1, "lr_at: needs step >= 0 and total_steps >= 1, got step ", step,
            " of ", total_steps);
  const int64_t warmup = std::max<int64_t>(cfg.warmup_steps(), 0);
  if (step < warmup) return base_lr * double(step + 1) / double(warmup + 1);
  switch (cfg.kind()) {
    case config::SCHEDULE_COSINE:
      return cosine(cfg, base_lr, step, total_steps, warmup);
    case config::SCHEDULE_MULTISTEP:
      return multistep(cfg, base_lr, step, total_steps);
    case config::SCHEDULE_WSD:
      return wsd(cfg, base_lr, step, total_steps);
    case config::SCHEDULE_CONSTANT:
      return base_lr;
  }
  MOE_CHECK(false, "lr_at: unknown schedule kind ", int(cfg.kind()));
}

absl::Status validate_schedule(const config::ScheduleConfig& cfg, int64_t total_steps) {
  if (total_steps < 1) return absl::InvalidArgumentError(absl::StrCat("total steps must be >= 1, got ", total_steps));
  if (cfg.warmup_steps() < 0)
    return absl::InvalidArgumentError(absl::StrCat("schedule.warmup_steps must be >= 0, got ", cfg.warmup_steps()));
  if (cfg.min_lr() < 0)
    return absl::InvalidArgumentError(absl::StrCat("schedule.min_lr must be >= 0, got ", cfg.min_lr()));
  if (cfg.kind() == config::SCHEDULE_WSD && !(cfg.decay_fraction() >= 0 && cfg.decay_fraction() <= 1))
    return absl::InvalidArgumentError(
        absl::StrCat("schedule.decay_fraction must be in [0, 1], got ", cfg.decay_fraction()));
  if (cfg.kind() == config::SCHEDULE_MULTISTEP) {
    if (!(cfg.gamma() > 0))
      return absl::InvalidArgumentError(absl::StrCat("schedule.gamma must be > 0, got ", cfg.gamma()));
    for (double m : cfg.milestones())
      if (!(m > 0 && m <= 1))
        return absl::InvalidArgumentError(
            absl::StrCat("schedule.milestones are fractions of the run in (0, 1], got ", m));
  }
  return absl::OkStatus();
}

}  // namespace moe::optim
