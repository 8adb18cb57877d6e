// Expected values worked out by hand from the formulas in optim/schedule.h.
#include "optim/schedule.h"

#include <gtest/gtest.h>

#include "core/error.h"

namespace moe::optim {
namespace {

config::ScheduleConfig schedule(config::ScheduleKind kind, int64_t warmup, double min_lr) {
  config::ScheduleConfig c;
  c.set_kind(kind);
  c.set_warmup_steps(warmup);
  c.set_min_lr(min_lr);
  return c;
}

TEST(Schedule, WarmupIsNanoGptLinear) {
  const auto c = schedule(config::SCHEDULE_COSINE, 10, 0.1);
  EXPECT_DOUBLE_EQ(lr_at(c, 1.0, 0, 110), 1.0 / 11.0);  // (0 + 1) / (10 + 1)
  EXPECT_DOUBLE_EQ(lr_at(c, 2.0, 4, 110), 2.0 * 5.0 / 11.0);
  EXPECT_DOUBLE_EQ(lr_at(c, 1.0, 9, 110), 10.0 / 11.0);
}

TEST(Schedule, Cosine) {
  // warmup 10, total 110: r = (step - 10) / 100.
  const auto c = schedule(config::SCHEDULE_COSINE, 10, 0.1);
  EXPECT_DOUBLE_EQ(lr_at(c, 1.0, 10, 110), 1.0);   // r = 0
  EXPECT_NEAR(lr_at(c, 1.0, 35, 110), 0.868198052, 1e-9);  // r = 1/4: 0.1 + 0.9 * 0.5 (1 + 0.70710678)
  EXPECT_NEAR(lr_at(c, 1.0, 60, 110), 0.55, 1e-12);  // r = 1/2: 0.1 + 0.9 * 0.5
  EXPECT_NEAR(lr_at(c, 1.0, 85, 110), 0.231801948, 1e-9);  // r = 3/4: 0.1 + 0.9 * 0.5 (1 - 0.70710678)
  EXPECT_DOUBLE_EQ(lr_at(c, 1.0, 110, 110), 0.1);
  EXPECT_DOUBLE_EQ(lr_at(c, 1.0, 500, 110), 0.1);
}

TEST(Schedule, CosineWithoutRoomAfterWarmup) {
  const auto c = schedule(config::SCHEDULE_COSINE, 10, 0.1);
  EXPECT_DOUBLE_EQ(lr_at(c, 1.0, 10, 10), 0.1);  // no division by zero
}

TEST(Schedule, MultiStepDeepSeek) {
  auto c = schedule(config::SCHEDULE_MULTISTEP, 10, 0.0);
  EXPECT_DOUBLE_EQ(lr_at(c, 1.0, 5, 100), 6.0 / 11.0);
  EXPECT_DOUBLE_EQ(lr_at(c, 1.0, 10, 100), 1.0);
  EXPECT_DOUBLE_EQ(lr_at(c, 1.0, 79, 100), 1.0);
  EXPECT_DOUBLE_EQ(lr_at(c, 1.0, 80, 100), 0.316);
  EXPECT_DOUBLE_EQ(lr_at(c, 1.0, 89, 100), 0.316);
  EXPECT_DOUBLE_EQ(lr_at(c, 1.0, 90, 100), 0.316 * 0.316);  // 0.099856
  EXPECT_DOUBLE_EQ(lr_at(c, 1.0, 99, 100), 0.316 * 0.316);
  // 0.8 * 1000 and 0.9 * 1000 land on whole steps.
  EXPECT_DOUBLE_EQ(lr_at(c, 1.0, 799, 1000), 1.0);
  EXPECT_DOUBLE_EQ(lr_at(c, 1.0, 800, 1000), 0.316);
  EXPECT_DOUBLE_EQ(lr_at(c, 1.0, 900, 1000), 0.316 * 0.316);

  c.add_milestones(0.5);
  c.set_gamma(0.1);
  EXPECT_DOUBLE_EQ(lr_at(c, 2.0, 49, 100), 2.0);
  EXPECT_DOUBLE_EQ(lr_at(c, 2.0, 50, 100), 0.2);
  EXPECT_DOUBLE_EQ(lr_at(c, 2.0, 95, 100), 0.2);  // only the given milestone
}

TEST(Schedule, WarmupStableDecay) {
  // total 100, decay_fraction 0.2: decay from step 80 to min_lr at step 100.
  auto c = schedule(config::SCHEDULE_WSD, 10, 0.1);
  c.set_decay_fraction(0.2);
  EXPECT_DOUBLE_EQ(lr_at(c, 1.0, 3, 100), 4.0 / 11.0);
  EXPECT_DOUBLE_EQ(lr_at(c, 1.0, 50, 100), 1.0);
  EXPECT_DOUBLE_EQ(lr_at(c, 1.0, 79, 100), 1.0);
  EXPECT_DOUBLE_EQ(lr_at(c, 1.0, 80, 100), 1.0);
  EXPECT_NEAR(lr_at(c, 1.0, 85, 100), 0.775, 1e-12);  // 1 - 0.9 * 5/20
  EXPECT_NEAR(lr_at(c, 1.0, 90, 100), 0.55, 1e-12);   // 1 - 0.9 * 10/20
  EXPECT_NEAR(lr_at(c, 1.0, 99, 100), 0.145, 1e-12);  // 1 - 0.9 * 19/20
  EXPECT_DOUBLE_EQ(lr_at(c, 1.0, 100, 100), 0.1);
}

TEST(Schedule, Constant) {
  const auto c = schedule(config::SCHEDULE_CONSTANT, 4, 0.0);
  EXPECT_DOUBLE_EQ(lr_at(c, 3.0, 0, 100), 0.6);  // 3 * 1/5
  EXPECT_DOUBLE_EQ(lr_at(c, 3.0, 4, 100), 3.0);
  EXPECT_DOUBLE_EQ(lr_at(c, 3.0, 1000, 100), 3.0);
}

TEST(Schedule, NoWarmup) {
  const auto c = schedule(config::SCHEDULE_COSINE, 0, 0.0);
  EXPECT_DOUBLE_EQ(lr_at(c, 1.0, 0, 100), 1.0);
  EXPECT_NEAR(lr_at(c, 1.0, 50, 100), 0.5, 1e-12);
}

TEST(Schedule, BadArgumentsAndValidation) {
  const auto c = schedule(config::SCHEDULE_COSINE, 10, 0.1);
  EXPECT_THROW(lr_at(c, 1.0, -1, 100), Error);
  EXPECT_THROW(lr_at(c, 1.0, 0, 0), Error);
  EXPECT_TRUE(validate_schedule(c, 100).ok());
  EXPECT_FALSE(validate_schedule(c, 0).ok());
  auto w = schedule(config::SCHEDULE_WSD, 10, 0.1);
  w.set_decay_fraction(1.5);
  EXPECT_NE(validate_schedule(w, 100).message().find("decay_fraction"), std::string::npos);
  auto m = schedule(config::SCHEDULE_MULTISTEP, 10, 0.1);
  m.add_milestones(80);  // a step number, not a fraction
  EXPECT_NE(validate_schedule(m, 100).message().find("milestones"), std::string::npos);
  auto n = schedule(config::SCHEDULE_CONSTANT, -1, 0.1);
  EXPECT_NE(validate_schedule(n, 100).message().find("warmup_steps"), std::string::npos);
}

}  // namespace
}  // namespace moe::optim
