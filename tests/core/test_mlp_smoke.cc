// End to end: a 2-layer MLP built from core ops, trained by a hand-written
// SGD loop, fits a smooth regression. Exercises matmul, broadcasting add,
// tanh, mean, pow, backward and in-place updates under NoGradGuard together.
#include <gtest/gtest.h>

#include <cmath>

#include "core/autograd.h"
#include "core/ops.h"

namespace moe {
namespace {

TEST(MlpSmoke, TwoLayerMlpLearnsRegression) {
  constexpr int64_t kN = 128, kIn = 2, kHidden = 32;
  // Targets y = sin(x0) * cos(x1) on x uniform in [-1, 1]^2.
  const Tensor x = sub(mul(rand({kN, kIn}, /*seed=*/11), 2.0), ones({1}));
  std::vector<double> xs = x.to_vector(), ys(kN);
  for (int64_t i = 0; i < kN; ++i) ys[size_t(i)] = std::sin(xs[size_t(2 * i)]) * std::cos(xs[size_t(2 * i + 1)]);
  const Tensor y = from_vector(ys, {kN, 1});

  Tensor w1 = mul(randn({kIn, kHidden}, 1), 0.7).set_requires_grad(true);
  Tensor b1 = zeros({kHidden}).set_requires_grad(true);
  Tensor w2 = mul(randn({kHidden, 1}, 2), 1.0 / std::sqrt(double(kHidden))).set_requires_grad(true);
  Tensor b2 = zeros({1}).set_requires_grad(true);
  std::vector<Tensor*> params{&w1, &b1, &w2, &b2};

  auto loss_fn = [&] { return mean(pow(sub(add(matmul(tanh(add(matmul(x, w1), b1)), w2), b2), y), 2.0)); };
  const double initial = loss_fn().item();
  double loss = initial;
  for (int step = 0; step < 3000 && loss >= 1e-4; ++step) {
    for (Tensor* p : params) p->zero_grad();
    Tensor l = loss_fn();
    loss = l.item();
    l.backward();
    NoGradGuard no_grad;
    for (Tensor* p : params) add_(*p, p->grad(), -0.2);
  }
  EXPECT_GT(initial, 0.05);  // the target is not trivially fit at init
  EXPECT_LT(loss, 1e-3);
}

}  // namespace
}  // namespace moe
