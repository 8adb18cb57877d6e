// model.matmul_precision: BF16 moves the loss and gradients by about bf16's
// rounding (never zero, never more than a percent on a small model), the
// router keeps f32 inside the bf16 scope, and FP32 stays the f32 numbers.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/ops.h"
#include "model/moe_layer.h"
#include "model/transformer.h"

namespace moe::model {
namespace {

config::ModelConfig small_moe(config::MatmulPrecision p) {
  config::ModelConfig c;
  c.set_vocab_size(64);
  c.set_d_model(48);
  c.set_n_layers(2);
  c.set_n_heads(4);
  c.set_max_seq_len(16);
  c.set_ffn_dim(96);
  c.set_first_k_dense(1);
  auto* m = c.mutable_moe();
  m->set_num_routed_experts(4);
  m->set_expert_ffn_dim(32);
  m->set_top_k(2);
  m->set_expert_balance_coef(0.01);
  c.set_matmul_precision(p);
  return c;
}

struct LossAndGrads {
  double loss;
  std::vector<double> grad;  // of every parameter, flattened in name order
};

LossAndGrads train_step(config::MatmulPrecision p) {
  Transformer m(small_moe(p));
  // Token ids from a fixed random draw (48 positions, vocabulary 64).
  auto tokens = [](uint64_t seed) {
    std::vector<double> v;
    for (double r : rand({3, 16}, seed).to_vector()) v.push_back(std::floor(r * 64));
    return from_vector(v, {3, 16}, DType::i64);
  };
  const Tensor ids = tokens(7), tgt = tokens(8);
  const Tensor loss = m.loss(ids, tgt).total;
  loss.backward();
  LossAndGrads r{loss.item(), {}};
  for (const Named& q : m.named_parameters())
    for (double g : q.tensor.grad().to_vector()) r.grad.push_back(g);
  return r;
}

TEST(MatmulPrecision, Bf16MovesLossAndGradientsByItsRounding) {
  const LossAndGrads f32 = train_step(config::MATMUL_FP32), bf16 = train_step(config::MATMUL_BF16);
  const double rel = std::fabs(bf16.loss - f32.loss) / f32.loss;
  EXPECT_GT(rel, 1e-7);  // the products really ran in bf16
  EXPECT_LT(rel, 1e-2);
  double num = 0, den = 0;
  ASSERT_EQ(f32.grad.size(), bf16.grad.size());
  for (size_t i = 0; i < f32.grad.size(); ++i) {
    num += (bf16.grad[i] - f32.grad[i]) * (bf16.grad[i] - f32.grad[i]);
    den += f32.grad[i] * f32.grad[i];
  }
  const double grad_rel = std::sqrt(num / den);
  EXPECT_GT(grad_rel, 1e-5);
  EXPECT_LT(grad_rel, 5e-2);  // bf16 keeps 8 significant bits: ~0.4% per operand
}

TEST(MatmulPrecision, Fp32IsTheDefaultAndDeterministic) {
  const LossAndGrads a = train_step(config::MATMUL_FP32), b = train_step(config::MATMUL_FP32);
  EXPECT_EQ(a.loss, b.loss);
  EXPECT_EQ(a.grad, b.grad);
  EXPECT_EQ(config::ModelConfig().matmul_precision(), config::MATMUL_FP32);
}

TEST(MatmulPrecision, RouterStaysF32InsideABf16Scope) {
  config::MoeConfig c = small_moe(config::MATMUL_BF16).moe();
  const Tensor x = randn({20, 48}, 3), w = randn({4, 48}, 4);
  const Routing f32 = route(c, x, w, Tensor());
  const MatmulPrecisionScope scope(MatmulPrecision::bf16);
  const Routing in_bf16 = route(c, x, w, Tensor());
  EXPECT_EQ(f32.logits.to_vector(), in_bf16.logits.to_vector());
  // and a plain product in the same scope is not f32
  EXPECT_NE(matmul(x, transpose(w, 0, 1)).to_vector(), f32.logits.to_vector());
}

}  // namespace
}  // namespace moe::model
