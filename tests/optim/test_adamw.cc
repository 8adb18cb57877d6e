#include "optim/adamw.h"

#include <gtest/gtest.h>

#include "core/error.h"
#include "test_util.h"

namespace moe::optim {
namespace {

using testing::floats;
using testing::param;
using testing::set_grad;

config::OptimizerConfig adamw_config(double wd) {
  config::OptimizerConfig c;
  c.set_beta1(0.9);
  c.set_beta2(0.99);
  c.set_eps(1e-8);
  c.set_weight_decay(wd);
  return c;
}

// lr 0.01, b1 0.9, b2 0.99, eps 1e-8, wd 0.1; p = [1, -2, 0.5].
// Step 1, g = [0.1, -0.2, 0.3]: p *= 0.999; m = 0.1 g; v = 0.01 g^2;
//   m^ = g, v^ = g^2, so p -= 0.01 g / (|g| + 1e-8):
//   [0.999 - 0.009999999, -1.998 + 0.0099999995, 0.4995 - 0.00999999967]
//   = [0.989000001, -1.9880000005, 0.4895000003].
// Step 2, g = [-0.1, 0.4, 0]: bc1 = 1 - 0.81 = 0.19, bc2 = 1 - 0.9801 = 0.0199.
//   [0] m = 0.009 - 0.01 = -0.001, v = 0.000099 + 0.0001 = 0.000199,
//       m^ = -0.00526315789, sqrt(v^) = sqrt(0.01) = 0.1:
//       p = 0.989000001 * 0.999 + 0.01 * 0.0526315789 = 0.9885373167
//   [1] m = -0.018 + 0.04 = 0.022, v = 0.000396 + 0.0016 = 0.001996,
//       m^ = 0.115789474, sqrt(v^) = sqrt(0.100301508) = 0.316704133:
//       p = -1.9880000005 * 0.999 - 0.01 * 0.365605... = -1.9896680775
//   [2] m = 0.027, v = 0.000891, m^ = 0.142105263,
//       sqrt(v^) = sqrt(0.0447738693) = 0.211598368:
//       p = 0.4895000003 * 0.999 - 0.01 * 0.671580... = 0.4822946992
TEST(AdamW, TwoStepsByHand) {
  Tensor p = param({1.0, -2.0, 0.5}, {3});
  AdamW opt({{"layers.0.attn.wq.weight", p}}, adamw_config(0.1));
  set_grad(p, {0.1, -0.2, 0.3});
  opt.step(0.01);
  auto v = floats(p);
  EXPECT_NEAR(v[0], 0.989000001, 1e-6);
  EXPECT_NEAR(v[1], -1.9880000005, 1e-6);
  EXPECT_NEAR(v[2], 0.4895000003, 1e-6);

  set_grad(p, {-0.1, 0.4, 0.0});
  opt.step(0.01);
  v = floats(p);
  EXPECT_NEAR(v[0], 0.9885373167, 1e-6);
  EXPECT_NEAR(v[1], -1.9896680775, 1e-6);
  EXPECT_NEAR(v[2], 0.4822946992, 1e-6);

  const NamedTensors st = opt.state();
  ASSERT_EQ(st.size(), 3u);
  EXPECT_EQ(st[0].first, "layers.0.attn.wq.weight.exp_avg");
  EXPECT_EQ(st[1].first, "layers.0.attn.wq.weight.exp_avg_sq");
  EXPECT_EQ(st[2].first, "layers.0.attn.wq.weight.step");
  const auto m = floats(st[0].second), s = floats(st[1].second);
  EXPECT_NEAR(m[0], -0.001, 1e-8);
  EXPECT_NEAR(m[1], 0.022, 1e-8);
  EXPECT_NEAR(m[2], 0.027, 1e-8);
  EXPECT_NEAR(s[0], 0.000199, 1e-9);
  EXPECT_NEAR(s[1], 0.001996, 1e-9);
  EXPECT_NEAR(s[2], 0.000891, 1e-9);
  EXPECT_EQ(st[2].second.item(), 2.0);
}

// With bias correction the first steps move each element by lr * sign(g)
// whatever the gradient's scale (m^ = g, v^ = g^2 while g is constant);
// without it step 2 would move by 0.19 / sqrt(0.0199) = 1.347 lr.
TEST(AdamW, BiasCorrectionGivesSignSteps) {
  Tensor p = param({0, 0, 0}, {3});
  AdamW opt({{"w.weight", p}}, adamw_config(0.0));
  for (int step = 1; step <= 2; ++step) {
    set_grad(p, {0.05, -3.0, 400.0});
    opt.step(0.1);
    const auto v = floats(p);
    EXPECT_NEAR(v[0], -0.1 * step, 1e-6) << "step " << step;
    EXPECT_NEAR(v[1], 0.1 * step, 1e-6) << "step " << step;
    EXPECT_NEAR(v[2], -0.1 * step, 1e-6) << "step " << step;
  }
}

// Zero gradients leave only the decay: p *= 1 - lr * wd = 0.95 where it applies.
TEST(AdamW, DefaultNoDecayGroup) {
  Tensor w = param({1, 2, 3, 4}, {2, 2}), norm = param({1, 1}, {2}), bias = param({2, 2}, {2});
  Tensor fin = param({3}, {1});
  AdamW opt({{"layers.0.attn.wq.weight", w},
             {"layers.0.attn_norm.weight", norm},
             {"layers.0.attn.wq.bias", bias},
             {"final_norm.weight", fin}},
            adamw_config(0.5));
  EXPECT_EQ(opt.weight_decay(0), 0.5);
  EXPECT_EQ(opt.weight_decay(1), 0.0);
  EXPECT_EQ(opt.weight_decay(2), 0.0);
  EXPECT_EQ(opt.weight_decay(3), 0.0);
  for (Tensor* t : {&w, &norm, &bias, &fin}) t->set_grad(zeros(t->shape()));
  opt.step(0.1);
  EXPECT_EQ(floats(w), (std::vector<float>{0.95f, 1.9f, 2.85f, 3.8f}));
  EXPECT_EQ(floats(norm), (std::vector<float>{1, 1}));
  EXPECT_EQ(floats(bias), (std::vector<float>{2, 2}));
  EXPECT_EQ(floats(fin), (std::vector<float>{3}));
}

TEST(AdamW, ConfiguredNoDecayPatterns) {
  Tensor wq = param({1, 1}, {1, 2}), wk = param({1, 1}, {1, 2}), norm = param({1}, {1});
  auto cfg = adamw_config(0.5);
  cfg.add_no_decay("*.wq.*");
  AdamW opt({{"layers.0.attn.wq.weight", wq}, {"layers.0.attn.wk.weight", wk}, {"final_norm.weight", norm}},
            cfg);
  for (Tensor* t : {&wq, &wk, &norm}) t->set_grad(zeros(t->shape()));
  opt.step(0.1);
  EXPECT_EQ(floats(wq), (std::vector<float>{1, 1}));
  EXPECT_EQ(floats(wk), (std::vector<float>{0.95f, 0.95f}));
  EXPECT_EQ(floats(norm), (std::vector<float>{0.95f}));  // patterns replace the default
}

TEST(AdamW, ParametersWithoutGradientAreSkipped) {
  Tensor a = param({1, 1}, {2}), b = param({1, 1}, {2});
  AdamW opt({{"a.weight", a}, {"b.weight", b}}, adamw_config(0.5));
  set_grad(a, {1, 1});
  opt.step(0.1);
  EXPECT_EQ(floats(b), (std::vector<float>{1, 1}));  // no decay either
  const NamedTensors st = opt.state();
  EXPECT_EQ(st[2].second.item(), 1.0);  // a.weight.step
  EXPECT_EQ(st[5].second.item(), 0.0);  // b.weight.step
  opt.zero_grad();
  EXPECT_FALSE(a.grad().defined());
}

TEST(AdamW, RejectsBadParametersAndGradients) {
  Tensor p = param({1, 2}, {2});
  EXPECT_THROW(AdamW({{"x", p}, {"x", p}}, adamw_config(0)), Error);
  EXPECT_THROW(AdamW({{"", p}}, adamw_config(0)), Error);
  Tensor d = from_vector({1, 2}, {2}, DType::f64);
  EXPECT_THROW(AdamW({{"x", d}}, adamw_config(0)), Error);
  Tensor q = param({1, 2, 3, 4}, {2, 2});
  EXPECT_THROW(AdamW({{"x", q.transpose(0, 1)}}, adamw_config(0)), Error);
  AdamW opt({{"x", p}}, adamw_config(0));
  p.set_grad(zeros({3}));
  try {
    opt.step(0.1);
    FAIL() << "expected a shape error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'x'"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace moe::optim
