// The MoE layer and its aux losses, gradient-checked in f64 end to end:
// router, gates (normalised + scaled), grouped experts, shared expert,
// combine, and every balance loss and the z-loss.
#include <gtest/gtest.h>

#include "core/ops.h"
#include "model/moe_layer.h"
#include "tests/model/grad_check.h"

namespace moe::model {
namespace {

config::ModelConfig small_moe(config::ScoreFunction sf) {
  config::ModelConfig c;
  c.set_d_model(6);
  c.set_init_std(0.5);
  auto* m = c.mutable_moe();
  m->set_num_routed_experts(4);
  m->set_num_shared_experts(1);
  m->set_expert_ffn_dim(5);
  m->set_top_k(2);
  m->set_num_groups(2);
  m->set_top_k_groups(1);
  m->set_score_function(sf);
  m->set_normalize_top_k(sf == config::SCORE_SIGMOID);
  m->set_routed_scaling_factor(1.5);
  m->set_expert_balance_coef(0.3);
  m->set_device_balance_coef(0.2);
  m->set_comm_balance_coef(0.1);
  m->set_sequence_balance_coef(0.4);
  m->set_z_loss_coef(0.05);
  return c;
}

void check_layer(config::ScoreFunction sf, config::BalanceScope scope) {
  config::ModelConfig c = small_moe(sf);
  c.mutable_moe()->set_balance_scope(scope);
  MoeLayer layer(c, 0.5);
  layer.init_parameters(7);
  layer.cast_parameters(DType::f64);
  Tensor x = randn({2, 3, 6}, 3, 0, DType::f64).set_requires_grad(true);
  const Tensor w = randn({2, 3, 6}, 4, 0, DType::f64);
  std::vector<Tensor> leaves{x};
  for (const Named& p : layer.named_parameters()) leaves.push_back(p.tensor);
  auto loss = [&] {
    Tensor y = layer.forward(x, {});
    return add(sum(mul(y, w)), layer.aux().total());
  };
  EXPECT_LE(test::max_grad_error(loss, leaves), 1e-6);
  // Every aux term was on and contributed.
  const AuxLosses& a = layer.aux();
  for (const Tensor& t : {a.expert, a.device, a.comm, a.sequence, a.z}) {
    ASSERT_TRUE(t.defined());
    EXPECT_GT(t.item(), 0.0);
  }
}

TEST(MoeLayerGrad, SoftmaxPerSequence) { check_layer(config::SCORE_SOFTMAX, config::BALANCE_PER_SEQUENCE); }
TEST(MoeLayerGrad, SigmoidNormalisedPerMicroBatch) {
  check_layer(config::SCORE_SIGMOID, config::BALANCE_PER_MICRO_BATCH);
}

// With dropping on, dropped assignments contribute nothing and gradients
// still check (the plan is constant under small perturbations).
TEST(MoeLayerGrad, WithExpertCapacityDropping) {
  config::ModelConfig c = small_moe(config::SCORE_SOFTMAX);
  c.mutable_moe()->set_drop_policy(config::DROP_EXPERT_CAPACITY);
  c.mutable_moe()->set_capacity_factor(0.5);
  MoeLayer layer(c, 0.5);
  layer.init_parameters(7);
  layer.cast_parameters(DType::f64);
  Tensor x = randn({2, 4, 6}, 5, 0, DType::f64).set_requires_grad(true);
  const Tensor w = randn({2, 4, 6}, 6, 0, DType::f64);
  std::vector<Tensor> leaves{x};
  for (const Named& p : layer.named_parameters()) leaves.push_back(p.tensor);
  auto loss = [&] {
    Tensor y = layer.forward(x, {});  // before aux(): it is the last forward's
    return add(sum(mul(y, w)), layer.aux().total());
  };
  EXPECT_LE(test::max_grad_error(loss, leaves), 1e-6);
  EXPECT_GT(layer.stats().dropped, 0);
}

}  // namespace
}  // namespace moe::model
