#include "optim/clip.h"

#include <gtest/gtest.h>

#include <cmath>

#include "core/threading.h"
#include "test_util.h"

namespace moe::optim {
namespace {

using testing::floats;
using testing::param;
using testing::set_grad;

TEST(ClipGradNorm, ScalesWhenAboveMax) {
  // |[3, 4]|^2 + |[12]|^2 = 169: norm 13. max 6.5: factor 6.5 / (13 + 1e-6).
  Tensor a = param({0, 0}, {2}), b = param({0}, {1}), c = param({1}, {1});
  set_grad(a, {3, 4});
  set_grad(b, {12});
  // c has no gradient: skipped.
  EXPECT_DOUBLE_EQ(clip_grad_norm({a, b, c}, 6.5), 13.0);
  const double f = 6.5 / (13.0 + 1e-6);  // 0.4999999615
  EXPECT_NEAR(floats(a.grad())[0], 1.4999998846, 1e-6);
  EXPECT_NEAR(floats(a.grad())[1], 1.9999998462, 1e-6);
  EXPECT_FLOAT_EQ(floats(b.grad())[0], float(12 * f));
  EXPECT_FALSE(c.grad().defined());
}

TEST(ClipGradNorm, LeavesGradientsBelowMax) {
  Tensor a = param({0, 0}, {2});
  set_grad(a, {3, 4});
  EXPECT_DOUBLE_EQ(clip_grad_norm({a}, 5.0), 5.0);  // not above: untouched
  EXPECT_EQ(floats(a.grad()), (std::vector<float>{3, 4}));
  EXPECT_DOUBLE_EQ(clip_grad_norm({a}, 0.0), 5.0);  // 0: only measures
  EXPECT_EQ(floats(a.grad()), (std::vector<float>{3, 4}));
}

TEST(ClipGradNorm, NonFiniteNormScalesNothing) {
  Tensor a = param({0, 0}, {2});
  set_grad(a, {INFINITY, 1});
  EXPECT_TRUE(std::isinf(clip_grad_norm({a}, 1.0)));
  EXPECT_EQ(floats(a.grad())[1], 1.0f);
}

TEST(ClipGradNorm, NonContiguousGradientIsReplacedNotWrittenThrough) {
  Tensor a = param({0, 0, 0}, {3});
  const Tensor base = from_vector({2}, {1});
  a.set_grad(base.expand({3}));  // three views of one element
  EXPECT_NEAR(clip_grad_norm({a}, 1.0), std::sqrt(12.0), 1e-12);
  EXPECT_EQ(floats(base)[0], 2.0f);
  EXPECT_NEAR(floats(a.grad())[2], 2.0 / (std::sqrt(12.0) + 1e-6), 1e-7);
}

TEST(ClipGradNorm, SameNormForAnyThreadCount) {
  const int saved = num_threads();
  Tensor a = testing::random_param({300001}, 3), b = testing::random_param({777}, 4);
  a.set_grad(randn({300001}, 5));
  b.set_grad(randn({777}, 6));
  set_num_threads(1);
  const double one = grad_sq_norm({a, b});
  set_num_threads(2);
  const double two = grad_sq_norm({a, b});
  set_num_threads(saved);
  EXPECT_EQ(one, two);
  EXPECT_NEAR(one / 301778.0, 1.0, 0.02);  // unit normals
}

}  // namespace
}  // namespace moe::optim
