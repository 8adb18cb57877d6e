// optim.moment_dtype = MOMENT_BF16: AdamW's m, v and Muon's momentum buffer
// stored as bfloat16 (round to nearest even after each update, f32 math),
// master weights f32, the state half the bytes.
#include <gtest/gtest.h>

#include "optim/adamw.h"
#include "optim/muon.h"
#include "test_util.h"

namespace moe::optim {
namespace {

using testing::floats;
using testing::param;
using testing::random_param;
using testing::same_bits;
using testing::set_grad;

config::OptimizerConfig with_moments(config::OptimizerConfig c, config::MomentDtype d) {
  c.set_moment_dtype(d);
  return c;
}

config::OptimizerConfig adamw_config() {
  config::OptimizerConfig c;
  c.set_beta1(0.9);
  c.set_beta2(0.99);
  c.set_eps(1e-8);
  c.set_weight_decay(0.1);
  return c;
}

// test_adamw.cc's two steps with lr 0.1 (b1 0.9, b2 0.99, eps 1e-8, wd 0.1),
// p = [1, -2, 0.5], g1 = [0.1, -0.2, 0.3], g2 = [-0.1, 0.4, 0].
// Step 1 uses its own m, v unrounded, so p is the FP32 path's
//   p *= 0.99, p -= 0.1 sign(g): [0.89, -1.88, 0.395];
// the stored moments are rounded to bf16 (8 significant bits):
//   m = 0.1 g:    0.01 = 163.84 * 2^-14 -> 164 * 2^-14 = 0.010009765625,
//                 -0.02 -> -0.02001953125, 0.03 -> 0.030029296875;
//   v = 0.01 g^2: 1e-4 = 209.7152 * 2^-21 -> 210 * 2^-21 = 1.00135803e-4,
//                 4e-4 -> 4.00543213e-4, 9e-4 -> 9.00268555e-4.
// Step 2 reads those (bc1 = 0.19, bc2 = 0.0199); element 0:
//   m = 0.9 * 0.010009765625 - 0.01 = -0.0009912109375 (stored -0.00099182129),
//   v = 0.99 * 1.00135803e-4 + 1e-4 = 1.99134445e-4,
//   p = 0.89 * 0.99 + 0.1 * (0.0009912109 / 0.19) / sqrt(1.99134445e-4 / 0.0199)
//     = 0.8811 + 0.1 * 0.00521690 / 0.10003378 = 0.8863151670
// where FP32 moments (m = -0.001, v = 1.99e-4) give 0.8863631487; likewise
// [1]: -1.897726655 (FP32 -1.897760749), [2]: 0.3238364458 (FP32 0.3238919973).
TEST(Bf16Moments, AdamWTwoStepsByHand) {
  Tensor p = param({1.0, -2.0, 0.5}, {3});
  AdamW opt({{"layers.0.attn.wq.weight", p}}, with_moments(adamw_config(), config::MOMENT_BF16));
  set_grad(p, {0.1, -0.2, 0.3});
  opt.step(0.1);
  auto v = floats(p);
  EXPECT_NEAR(v[0], 0.8899999857, 1e-6);
  EXPECT_NEAR(v[1], -1.879999995, 1e-6);
  EXPECT_NEAR(v[2], 0.3950000107, 1e-6);
  NamedTensors st = opt.state();
  ASSERT_EQ(st[0].second.dtype(), DType::bf16);
  ASSERT_EQ(st[1].second.dtype(), DType::bf16);
  EXPECT_EQ(floats(st[0].second.to(DType::f32)), (std::vector<float>{0.010009765625f, -0.02001953125f,
                                                                      0.030029296875f}));
  EXPECT_EQ(floats(st[1].second.to(DType::f32)),
            (std::vector<float>{0x1.a4p-14f, 0x1.a4p-12f, 0x1.d8p-11f}));  // 1.0014e-4, 4.0054e-4, 9.0027e-4

  set_grad(p, {-0.1, 0.4, 0.0});
  opt.step(0.1);
  v = floats(p);
  EXPECT_NEAR(v[0], 0.8863151670, 1e-6);  // FP32 moments: 0.8863631487
  EXPECT_NEAR(v[1], -1.897726655, 1e-6);  // -1.897760749
  EXPECT_NEAR(v[2], 0.3238364458, 1e-6);  // 0.3238919973
  st = opt.state();
  EXPECT_EQ(floats(st[0].second.to(DType::f32))[0], -0x1.04p-10f);  // -0.00099182129
  EXPECT_EQ(st[2].second.dtype(), DType::i64);
  EXPECT_EQ(st[2].second.item(), 2.0);
}

// The same steps with FP32 moments land where test_adamw.cc's hand numbers
// say, so the difference above is the rounding of m and v alone.
TEST(Bf16Moments, Fp32MomentsGiveTheOtherNumbers) {
  Tensor p = param({1.0, -2.0, 0.5}, {3});
  AdamW opt({{"layers.0.attn.wq.weight", p}}, adamw_config());
  set_grad(p, {0.1, -0.2, 0.3});
  opt.step(0.1);
  set_grad(p, {-0.1, 0.4, 0.0});
  opt.step(0.1);
  const auto v = floats(p);
  EXPECT_NEAR(v[0], 0.8863631487, 1e-6);
  EXPECT_NEAR(v[1], -1.897760749, 1e-6);
  EXPECT_NEAR(v[2], 0.3238919973, 1e-6);
  EXPECT_EQ(opt.state()[0].second.dtype(), DType::f32);
}

config::OptimizerConfig muon_config(bool nesterov) {
  config::OptimizerConfig c;
  c.set_kind(config::OPTIMIZER_MUON);
  c.mutable_muon()->set_momentum(0.95);
  c.mutable_muon()->set_nesterov(nesterov);
  return c;
}

// B = 0.95 B + G. G1 = [3, 4]: B = [3, 4], exact in bf16, and step 1 moves p
// exactly as with an f32 buffer. G2 = [0.1, 1]: B = [2.95, 4.8] in f32,
// stored as [2.953125, 4.8125] (2.95 = 188.8 * 2^-6 -> 189 * 2^-6;
// 4.8 = 153.6 * 2^-5 -> 154 * 2^-5); from step 3 on p differs.
TEST(Bf16Moments, MuonMomentumBufferByHand) {
  for (bool nesterov : {false, true}) {
    SCOPED_TRACE(nesterov ? "nesterov" : "plain momentum");
    Tensor p = param({1, 1}, {1, 2}), q = param({1, 1}, {1, 2});
    Muon bf({{"layers.0.attn.wq.weight", p}}, with_moments(muon_config(nesterov), config::MOMENT_BF16));
    Muon fp({{"layers.0.attn.wq.weight", q}}, muon_config(nesterov));
    const std::vector<std::vector<double>> grads = {{3, 4}, {0.1, 1}, {0, 0}};
    for (size_t s = 0; s < grads.size(); ++s) {
      set_grad(p, grads[s]);
      set_grad(q, grads[s]);
      bf.step(0.1);
      fp.step(0.1);
      if (s == 0) {
        EXPECT_TRUE(same_bits(p, q)) << "step 1 uses the unrounded buffer";
      }
    }
    const Tensor b = bf.state()[0].second;
    ASSERT_EQ(b.dtype(), DType::bf16);
    // Step 3 (G = 0): B = 0.95 * [2.953125, 4.8125] = [2.80546875, 4.571875] -> bf16.
    EXPECT_EQ(floats(b.to(DType::f32)), (std::vector<float>{2.8125f, 4.5625f}));
    const auto pv = floats(p), qv = floats(q);
    EXPECT_GT(std::abs(pv[0] - qv[0]) + std::abs(pv[1] - qv[1]), 1e-6);
  }
}

// State bytes: every moment tensor bf16 (2 bytes per element) against f32,
// step counters unchanged; the parameters stay f32.
size_t state_bytes(const NamedTensors& st, DType want_moments) {
  size_t n = 0;
  for (const auto& [name, t] : st) {
    if (name.ends_with(".step")) {
      EXPECT_EQ(t.dtype(), DType::i64) << name;
      continue;
    }
    EXPECT_EQ(t.dtype(), want_moments) << name;
    n += size_t(t.numel()) * dtype_size(t.dtype());
  }
  return n;
}

TEST(Bf16Moments, StateMemoryHalves) {
  const std::vector<NamedParam> ps = {{"embed.weight", random_param({8, 4}, 1)},
                                      {"layers.0.attn.wq.weight", random_param({4, 6}, 2)},
                                      {"layers.0.ffn.experts.w1", random_param({2, 4, 6}, 3)}};
  const int64_t numel = 8 * 4 + 4 * 6 + 2 * 4 * 6;
  for (config::OptimizerKind kind : {config::OPTIMIZER_ADAMW, config::OPTIMIZER_MUON}) {
    config::OptimizerConfig c;
    c.set_kind(kind);
    const size_t f32_bytes = state_bytes(make_optimizer(c, ps)->state(), DType::f32);
    c.set_moment_dtype(config::MOMENT_BF16);
    const auto opt = make_optimizer(c, ps);
    const size_t bf16_bytes = state_bytes(opt->state(), DType::bf16);
    // AdamW: m and v of everything; Muon: one buffer for the two matrices,
    // AdamW's m and v for the embedding.
    const int64_t moments = kind == config::OPTIMIZER_ADAMW ? 2 * numel : numel - 8 * 4 + 2 * 8 * 4;
    EXPECT_EQ(f32_bytes, size_t(4 * moments));
    EXPECT_EQ(bf16_bytes, size_t(2 * moments));
    for (const NamedParam& np : opt->params()) EXPECT_EQ(np.param.dtype(), DType::f32);
  }
}

}  // namespace
}  // namespace moe::optim
