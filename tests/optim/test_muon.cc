#include "optim/muon.h"

#include <gtest/gtest.h>

#include <cmath>

#include "core/ops.h"
#include "test_util.h"

namespace moe::optim {
namespace {

using testing::floats;
using testing::param;
using testing::random_param;
using testing::set_grad;

config::OptimizerConfig muon_config(double wd, int64_t ns_steps, bool nesterov) {
  config::OptimizerConfig c;
  c.set_kind(config::OPTIMIZER_MUON);
  c.set_weight_decay(wd);
  c.mutable_muon()->set_momentum(0.95);
  c.mutable_muon()->set_nesterov(nesterov);
  c.mutable_muon()->set_ns_steps(ns_steps);
  c.mutable_muon()->set_rms_match(0.2);
  return c;
}

// A [1, 2] matrix, lr 0.1, one Newton-Schulz step (which maps a unit-norm
// row to 0.701 times itself, see test_newton_schulz.cc), scale
// 0.2 * sqrt(2) = 0.28284271, so p -= 0.028284271 * 0.701 * D / |D|.
// Step 1, G = [3, 4]: B = G, D = G + 0.95 B = [5.85, 7.8], D/|D| = [0.6, 0.8]:
//   p = 1 - 0.028284271 * [0.4206, 0.5608] = [0.9881036354, 0.9841381805].
// Step 2, G = [0, 1]: B = 0.95 [3, 4] + [0, 1] = [2.85, 4.8],
//   D = G + 0.95 B = [2.7075, 5.56], |D| = sqrt(38.24415625) = 6.18418598,
//   O = 0.701 D / |D| = [0.30690499, 0.63024626]:
//   p = [0.9881036354 - 0.0086805, 0.9841381805 - 0.0178261]
//     = [0.9794230514, 0.9663121244].
TEST(Muon, NesterovTwoStepsByHand) {
  Tensor p = param({1, 1}, {1, 2});
  Muon opt({{"layers.0.attn.wq.weight", p}}, muon_config(0.0, 1, true));
  set_grad(p, {3, 4});
  opt.step(0.1);
  auto v = floats(p);
  EXPECT_NEAR(v[0], 0.9881036354, 1e-6);
  EXPECT_NEAR(v[1], 0.9841381805, 1e-6);
  set_grad(p, {0, 1});
  opt.step(0.1);
  v = floats(p);
  EXPECT_NEAR(v[0], 0.9794230514, 1e-6);
  EXPECT_NEAR(v[1], 0.9663121244, 1e-6);
  const auto b = floats(opt.state()[0].second);
  EXPECT_EQ(opt.state()[0].first, "layers.0.attn.wq.weight.momentum_buffer");
  EXPECT_NEAR(b[0], 2.85, 1e-6);
  EXPECT_NEAR(b[1], 4.8, 1e-6);
}

// Plain momentum (D = B) and weight decay 0.1: p *= 0.99 before the update.
// Step 1: D = [3, 4] -> same direction: p = 0.99 - [0.0118963646, 0.0158618194]
//   = [0.9781036354, 0.9741381806].
// Step 2: D = B = [2.85, 4.8], |D| = sqrt(31.1625) = 5.58234720,
//   O = 0.701 [0.51053848, 0.85985431] = [0.35788748, 0.60275787]:
//   p = 0.99 p - 0.028284271 O = [0.9582000069, 0.9473482225].
TEST(Muon, MomentumWithWeightDecayByHand) {
  Tensor p = param({1, 1}, {1, 2});
  Muon opt({{"layers.0.attn.wq.weight", p}}, muon_config(0.1, 1, false));
  set_grad(p, {3, 4});
  opt.step(0.1);
  auto v = floats(p);
  EXPECT_NEAR(v[0], 0.9781036354, 1e-6);
  EXPECT_NEAR(v[1], 0.9741381806, 1e-6);
  set_grad(p, {0, 1});
  opt.step(0.1);
  v = floats(p);
  EXPECT_NEAR(v[0], 0.9582000069, 1e-6);
  EXPECT_NEAR(v[1], 0.9473482225, 1e-6);
}

// The update's RMS is rms_match times the RMS of the orthogonalised matrix's
// singular values / sqrt(max dim) * sqrt(max dim): with singular values in
// [0.68, 1.21] (test_newton_schulz.cc) it lies in [0.136, 0.242] for every
// shape.
TEST(Muon, UpdateRmsMatchesWhateverTheShape) {
  const std::vector<Shape> shapes = {{32, 64}, {64, 32}, {128, 16}, {16, 256}, {4, 24, 48}};
  for (size_t k = 0; k < shapes.size(); ++k) {
    Tensor p = random_param(shapes[k], 100 + k);
    const auto before = floats(p);
    Muon opt({{"layers.0.ffn.experts.w1", p}}, muon_config(0.0, 5, true));
    p.set_grad(randn(shapes[k], 200 + k));
    const double lr = 0.01;
    opt.step(lr);
    const auto after = floats(p);
    double sq = 0;
    for (size_t i = 0; i < after.size(); ++i) sq += std::pow((before[i] - after[i]) / lr, 2);
    const double rms = std::sqrt(sq / double(after.size()));
    EXPECT_GT(rms, 0.2 * 0.68) << shape_str(shapes[k]);
    EXPECT_LT(rms, 0.2 * 1.21) << shape_str(shapes[k]);
  }
}

// An expert stack [E, D, F] is updated as E separate matrices, each with the
// sqrt(max(D, F)) scale of one matrix, even when the experts' gradients
// differ by orders of magnitude.
TEST(Muon, ExpertStackIsUpdatedPerMatrix) {
  const int64_t e = 3, d = 16, f = 40;
  Tensor stackp = random_param({e, d, f}, 7);
  std::vector<NamedParam> separate;
  for (int64_t i = 0; i < e; ++i) {
    Tensor w = select(stackp.detach(), 0, i).clone();
    w.set_requires_grad(true);
    separate.push_back({"layers.0.ffn.expert" + std::to_string(i) + ".w1.weight", w});
  }
  Muon a({{"layers.0.ffn.experts.w1", stackp}}, muon_config(0.1, 5, true));
  Muon b(separate, muon_config(0.1, 5, true));
  for (int step = 0; step < 2; ++step) {
    std::vector<Tensor> grads;
    for (int64_t i = 0; i < e; ++i) grads.push_back(mul(randn({d, f}, 50 + uint64_t(10 * step + i)), std::pow(1000.0, double(i - 1))));
    stackp.set_grad(stack(grads, 0));
    for (int64_t i = 0; i < e; ++i) separate[size_t(i)].param.set_grad(grads[size_t(i)]);
    a.step(0.02);
    b.step(0.02);
  }
  for (int64_t i = 0; i < e; ++i) {
    const auto got = floats(select(stackp, 0, i)), want = floats(separate[size_t(i)].param);
    for (size_t j = 0; j < want.size(); ++j) ASSERT_NEAR(got[j], want[j], 1e-6) << "expert " << i;
  }
}

// Embeddings, the head, norms and biases go to AdamW: their first step moves
// each element by lr * sign(g) (bias-corrected Adam); matrices go to Muon.
TEST(Muon, NonMatricesGoToAdamW) {
  Tensor embed = param({1, 1, 1, 1}, {2, 2}), head = param({1, 1, 1, 1}, {2, 2});
  Tensor norm = param({1, 1}, {2}), wq = random_param({4, 4}, 3), experts = random_param({2, 4, 4}, 4);
  Tensor router = random_param({4, 2}, 5);
  Muon opt({{"embed.weight", embed},
            {"layers.0.attn_norm.weight", norm},
            {"layers.0.attn.wq.weight", wq},
            {"layers.0.ffn.router.weight", router},
            {"layers.0.ffn.experts.w1", experts},
            {"head.weight", head}},
           muon_config(0.0, 5, true));
  EXPECT_EQ(opt.muon_param_names(), (std::vector<std::string>{"layers.0.attn.wq.weight", "layers.0.ffn.router.weight",
                                                              "layers.0.ffn.experts.w1"}));
  for (Tensor* t : {&embed, &head, &norm}) set_grad(*t, std::vector<double>(size_t(t->numel()), -2.0));
  opt.step(0.1);
  for (Tensor* t : {&embed, &head, &norm})
    for (float x : floats(*t)) EXPECT_NEAR(x, 1.1, 1e-6);
  // Muon state first, then AdamW's, all under the parameters' names.
  const NamedTensors st = opt.state();
  ASSERT_EQ(st.size(), 3u + 3u * 3u);
  EXPECT_EQ(st[0].first, "layers.0.attn.wq.weight.momentum_buffer");
  EXPECT_EQ(st[2].first, "layers.0.ffn.experts.w1.momentum_buffer");
  EXPECT_EQ(st[3].first, "embed.weight.exp_avg");
}

}  // namespace
}  // namespace moe::optim
