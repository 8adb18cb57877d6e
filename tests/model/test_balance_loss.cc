// Balance losses and z-loss on a hand-computed example (DeepSeek-V2 eqs.
// 23-31, DeepSeek-V3 sequence-wise). E = 4 experts in G = 2 groups
// ({0,1}, {2,3}), K = 2, M = 2, one sequence of T = 3 tokens with scores
//   t0 [0.5, 0.2, 0.2, 0.1]  -> experts 0, 1 (the 0.2 tie goes to expert 1)
//   t1 [0.2, 1.0, 0.6, 0.2]  -> experts 1, 2 (unnormalised, as a sigmoid router)
//   t2 [0.05, 0.15, 0.6, 0.2] -> experts 2, 3
// Counts: e0 1, e1 2, e2 2, e3 1; f_i = E/(K T) count = [2/3, 4/3, 4/3, 2/3].
// P_i = mean_t s = [0.75, 1.35, 1.4, 0.5] / 3.
//   expert:   sum f P = (1.5 + 5.4 + 5.6 + 1.0) / 9 = 1.5
//   device:   f' = [1, 1], P' = [0.7, 1.9/3] -> 0.7 + 0.633333 = 4/3
//   comm:     f'' = G/(M T) * [2, 2] = [2/3, 2/3] -> (2/3)(4/3) = 8/9
//   sequence: rows normalised (t1 -> [0.1, 0.5, 0.3, 0.1]): P = [0.65, 0.85, 1.1, 0.4] / 3
//             -> (1.3 + 3.4 + 4.4 + 0.8) / 9 = 1.1
#include <gtest/gtest.h>

#include <cmath>

#include "core/ops.h"
#include "model/balance_loss.h"
#include "model/routing.h"

namespace moe::model {
namespace {

const std::vector<double> kScores = {0.5, 0.2, 0.2, 0.1, 0.2, 1.0, 0.6, 0.2, 0.05, 0.15, 0.6, 0.2};
const std::vector<int32_t> kExperts = {0, 1, 1, 2, 2, 3};

config::MoeConfig all_on() {
  config::MoeConfig c;
  c.set_num_routed_experts(4);
  c.set_top_k(2);
  c.set_num_groups(2);
  c.set_top_k_groups(2);
  c.set_expert_balance_coef(1.0);
  c.set_device_balance_coef(1.0);
  c.set_comm_balance_coef(1.0);
  c.set_sequence_balance_coef(1.0);
  return c;
}

BalanceInputs inputs(const Tensor& scores, const std::vector<int32_t>& experts, const std::vector<uint8_t>& keep,
                     int64_t batch, int64_t seq) {
  return {scores, scores, &experts, &keep, batch, seq, 2, 2, 2};
}

TEST(BalanceLoss, SelectionOfTheExample) {
  const std::vector<float> s(kScores.begin(), kScores.end());
  EXPECT_EQ(select_experts(s.data(), nullptr, 3, selection_spec(all_on())), kExperts);
}

TEST(BalanceLoss, HandComputedExample) {
  const Tensor scores = from_vector(kScores, {3, 4}, DType::f64);
  const std::vector<uint8_t> keep(6, 1);
  const AuxLosses a = aux_losses(all_on(), inputs(scores, kExperts, keep, 1, 3));
  EXPECT_NEAR(a.expert.item(), 1.5, 1e-12);
  EXPECT_NEAR(a.device.item(), 4.0 / 3.0, 1e-12);
  EXPECT_NEAR(a.comm.item(), 8.0 / 9.0, 1e-12);
  EXPECT_NEAR(a.sequence.item(), 1.1, 1e-12);
  EXPECT_FALSE(a.z.defined());
}

// The communication loss counts what is actually sent: dropping t1's
// assignment to expert 2 leaves group 1 with one token:
// f'' = [2/3, 1/3] -> (2/3)(0.7) + (1/3)(1.9/3) = 0.677778.
TEST(BalanceLoss, CommCountsKeptAssignmentsOnly) {
  const Tensor scores = from_vector(kScores, {3, 4}, DType::f64);
  const std::vector<uint8_t> keep = {1, 1, 1, 0, 1, 1};
  const AuxLosses a = aux_losses(all_on(), inputs(scores, kExperts, keep, 1, 3));
  EXPECT_NEAR(a.comm.item(), 2.0 / 3.0 * 0.7 + 1.0 / 3.0 * 1.9 / 3.0, 1e-12);
  EXPECT_NEAR(a.expert.item(), 1.5, 1e-12);  // selection counts, not kept ones
}

// Per-sequence scope averages over sequences; the micro-batch scope pools
// the tokens. Two copies of the sequence: per-sequence gives the same values;
// as one 6-token micro-batch f doubles its T but counts double too.
TEST(BalanceLoss, ScopeAveragesOverSequences) {
  std::vector<double> two = kScores;
  two.insert(two.end(), kScores.begin(), kScores.end());
  std::vector<int32_t> ex = kExperts;
  ex.insert(ex.end(), kExperts.begin(), kExperts.end());
  const std::vector<uint8_t> keep(12, 1);
  const Tensor scores = from_vector(two, {6, 4}, DType::f64);
  const AuxLosses per_seq = aux_losses(all_on(), inputs(scores, ex, keep, 2, 3));
  EXPECT_NEAR(per_seq.expert.item(), 1.5, 1e-12);
  config::MoeConfig mb = all_on();
  mb.set_balance_scope(config::BALANCE_PER_MICRO_BATCH);
  EXPECT_NEAR(aux_losses(mb, inputs(scores, ex, keep, 2, 3)).expert.item(), 1.5, 1e-12);

  // Two different sequences: per-sequence is the mean of the two losses.
  std::vector<double> other = {0.7, 0.1, 0.1, 0.1, 0.7, 0.1, 0.1, 0.1, 0.7, 0.1, 0.1, 0.1};  // all -> e0, then e1
  std::vector<double> mixed = kScores;
  mixed.insert(mixed.end(), other.begin(), other.end());
  std::vector<int32_t> ex2 = kExperts;
  for (int i = 0; i < 3; ++i) ex2.insert(ex2.end(), {0, 1});
  // Sequence 2 alone: f = (2/3)[3, 3, 0, 0] = [2, 2, 0, 0], P = [0.7, 0.1, ...] -> 2(0.7) + 2(0.1) = 1.6.
  const AuxLosses m = aux_losses(all_on(), inputs(from_vector(mixed, {6, 4}, DType::f64), ex2, keep, 2, 3));
  EXPECT_NEAR(m.expert.item(), (1.5 + 1.6) / 2, 1e-12);
}

// z-loss = beta * mean_t logsumexp(logits_t)^2: rows [0, 0] and [ln 3, 0]
// give (ln 2)^2 and (ln 4)^2.
TEST(BalanceLoss, ZLoss) {
  config::MoeConfig c;
  c.set_num_routed_experts(2);
  c.set_top_k(1);
  c.set_z_loss_coef(0.5);
  const Tensor logits = from_vector({0.0, 0.0, std::log(3.0), 0.0}, {2, 2}, DType::f64);
  const std::vector<int32_t> ex = {0, 0};
  const std::vector<uint8_t> keep = {1, 1};
  BalanceInputs in{logits, softmax(logits, -1), &ex, &keep, 1, 2, 1, 1, 1};
  const double l2 = std::log(2.0), l4 = std::log(4.0);
  EXPECT_NEAR(aux_losses(c, in).z.item(), 0.5 * (l2 * l2 + l4 * l4) / 2, 1e-12);
}

}  // namespace
}  // namespace moe::model
