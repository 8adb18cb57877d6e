// Optimizer state save/load and the factory.
#include <gtest/gtest.h>

#include "core/error.h"
#include "optim/adamw.h"
#include "optim/muon.h"
#include "test_util.h"

namespace moe::optim {
namespace {

using testing::clone_params;
using testing::random_param;
using testing::same_bits;

std::vector<NamedParam> model_params() {
  return {{"embed.weight", random_param({8, 4}, 1)},
          {"layers.0.attn_norm.weight", random_param({4}, 2)},
          {"layers.0.attn.wq.weight", random_param({4, 6}, 3)},
          {"layers.0.ffn.experts.w1", random_param({2, 4, 6}, 4)},
          {"head.weight", random_param({4, 8}, 5)}};
}

void give_grads(std::vector<NamedParam>& ps, uint64_t seed) {
  for (size_t i = 0; i < ps.size(); ++i) ps[i].param.set_grad(randn(ps[i].param.shape(), seed, i));
}

NamedTensors snapshot(const NamedTensors& st) {
  NamedTensors out;
  for (const auto& [name, t] : st) out.emplace_back(name, t.clone());
  return out;
}

config::OptimizerConfig config_of(config::OptimizerKind kind) {
  config::OptimizerConfig c;
  c.set_kind(kind);
  c.set_weight_decay(0.1);
  return c;
}

class StateRoundTrip
    : public ::testing::TestWithParam<std::tuple<config::OptimizerKind, config::MomentDtype>> {
 protected:
  config::OptimizerConfig config() const {
    config::OptimizerConfig c = config_of(std::get<0>(GetParam()));
    c.set_moment_dtype(std::get<1>(GetParam()));
    return c;
  }
};

// Two steps, save, load into a fresh optimizer over copies of the
// parameters, one more step on both: bitwise the same parameters and state
// (f32 or bf16 moments).
TEST_P(StateRoundTrip, NextStepIsBitwiseIdentical) {
  std::vector<NamedParam> ps = model_params();
  auto a = make_optimizer(config(), ps);
  for (uint64_t s = 0; s < 2; ++s) {
    give_grads(ps, 10 + s);
    a->step(1e-2);
  }
  const NamedTensors saved = snapshot(a->state());
  std::vector<NamedParam> qs = clone_params(ps);
  auto b = make_optimizer(config(), qs);
  ASSERT_TRUE(b->load_state(saved).ok());

  give_grads(ps, 20);
  give_grads(qs, 20);
  a->step(1e-2);
  b->step(1e-2);
  for (size_t i = 0; i < ps.size(); ++i) EXPECT_TRUE(same_bits(ps[i].param, qs[i].param)) << ps[i].name;
  const NamedTensors sa = a->state(), sb = b->state();
  ASSERT_EQ(sa.size(), sb.size());
  for (size_t i = 0; i < sa.size(); ++i) {
    EXPECT_EQ(sa[i].first, sb[i].first);
    EXPECT_TRUE(same_bits(sa[i].second, sb[i].second)) << sa[i].first;
  }
}

INSTANTIATE_TEST_SUITE_P(Kinds, StateRoundTrip,
                         ::testing::Combine(::testing::Values(config::OPTIMIZER_ADAMW, config::OPTIMIZER_MUON),
                                            ::testing::Values(config::MOMENT_FP32, config::MOMENT_BF16)));

TEST(LoadState, RejectsMismatchesAndChangesNothing) {
  std::vector<NamedParam> ps = model_params();
  auto opt = make_optimizer(config_of(config::OPTIMIZER_MUON), ps);
  give_grads(ps, 1);
  opt->step(1e-2);
  const NamedTensors good = snapshot(opt->state());

  NamedTensors missing(good.begin() + 1, good.end());
  auto st = opt->load_state(missing);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find(good[0].first), std::string::npos) << st.message();

  NamedTensors reshaped = snapshot(good);
  reshaped[0].second = zeros({3});
  for (auto& [name, t] : reshaped)
    if (name != good[0].first) fill_(t, 7.0);
  st = opt->load_state(reshaped);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("layers.0.attn.wq.weight.momentum_buffer"), std::string::npos) << st.message();
  // Nothing was copied, not even the entries that checked out.
  const NamedTensors now = opt->state();
  for (size_t i = 0; i < good.size(); ++i) EXPECT_TRUE(same_bits(now[i].second, good[i].second)) << good[i].first;

  NamedTensors extra = snapshot(good);
  extra.emplace_back("layers.9.attn.wq.weight.exp_avg", zeros({2}));
  st = opt->load_state(extra);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("layers.9"), std::string::npos) << st.message();

  NamedTensors twice = snapshot(good);
  twice.push_back(twice[0]);
  EXPECT_FALSE(opt->load_state(twice).ok());

  NamedTensors wrong_dtype = snapshot(good);
  for (auto& [name, t] : wrong_dtype)
    if (name.ends_with(".step")) t = t.to(DType::f32);
  EXPECT_FALSE(opt->load_state(wrong_dtype).ok());

  EXPECT_TRUE(opt->load_state(good).ok());
}

TEST(MakeOptimizer, KindAndValidation) {
  std::vector<NamedParam> ps = model_params();
  EXPECT_NE(dynamic_cast<AdamW*>(make_optimizer(config_of(config::OPTIMIZER_ADAMW), ps).get()), nullptr);
  EXPECT_NE(dynamic_cast<Muon*>(make_optimizer(config_of(config::OPTIMIZER_MUON), ps).get()), nullptr);
  config::OptimizerConfig bad;
  bad.set_beta2(1.0);
  EXPECT_NE(validate_optimizer_config(bad).message().find("beta2"), std::string::npos);
  EXPECT_THROW(make_optimizer(bad, ps), Error);
  bad = config::OptimizerConfig();
  bad.set_lr(0);
  EXPECT_NE(validate_optimizer_config(bad).message().find("lr"), std::string::npos);
  bad = config::OptimizerConfig();
  bad.mutable_muon()->set_ns_steps(0);
  EXPECT_NE(validate_optimizer_config(bad).message().find("muon.ns_steps"), std::string::npos);
  EXPECT_TRUE(validate_optimizer_config(config::OptimizerConfig()).ok());
}

}  // namespace
}  // namespace moe::optim
