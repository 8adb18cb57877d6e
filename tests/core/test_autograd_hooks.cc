// Post-accumulate hooks on leaves: they run once per backward, after .grad
// holds the accumulated gradient (earlier backwards included), in the order
// the backward reaches the leaves, and can be removed.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/autograd.h"
#include "core/ops.h"

namespace moe {
namespace {

Tensor leaf(const std::vector<double>& v, const Shape& s) {
  Tensor t = from_vector(v, s, DType::f64);
  t.set_requires_grad(true);
  return t;
}

TEST(AutogradPostAccumulateHook, SeesAccumulatedGradOncePerBackward) {
  Tensor x = leaf({1.0, 2.0}, {2});
  std::vector<std::vector<double>> seen;
  register_post_accumulate_hook(x, [&](const Tensor& l) {
    EXPECT_TRUE(l.same(x));
    seen.push_back(l.grad().to_vector());
  });
  // Two paths into x: one call with their sum.
  sum(add(mul(x, 2.0), x)).backward();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0], (std::vector<double>{3.0, 3.0}));
  // A second backward (gradient accumulation): the hook sees the running sum.
  sum(mul(x, 4.0)).backward();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[1], (std::vector<double>{7.0, 7.0}));
}

TEST(AutogradPostAccumulateHook, RunsAfterPreHooks) {
  Tensor x = leaf({1.0}, {1});
  std::vector<std::string> order;
  register_post_accumulate_hook(x, [&](const Tensor& l) {
    order.push_back("post");
    EXPECT_DOUBLE_EQ(l.grad().item(), 20.0);  // the pre-hook's replacement
  });
  x.register_hook([&](const Tensor& g) {
    order.push_back("pre");
    return mul(g, 10.0);
  });
  sum(mul(x, 2.0)).backward();
  EXPECT_EQ(order, (std::vector<std::string>{"pre", "post"}));
}

TEST(AutogradPostAccumulateHook, FiresInBackwardOrderAndCanBeRemoved) {
  Tensor a = leaf({2.0}, {1});
  Tensor b = leaf({3.0}, {1});
  std::vector<std::string> order;
  const uint64_t ha = register_post_accumulate_hook(a, [&](const Tensor&) { order.push_back("a"); });
  register_post_accumulate_hook(b, [&](const Tensor&) { order.push_back("b"); });
  // b enters the graph last, so its gradient is final first.
  sum(mul(mul(a, 5.0), b)).backward();
  EXPECT_EQ(order, (std::vector<std::string>{"b", "a"}));
  remove_post_accumulate_hook(a, ha);
  remove_post_accumulate_hook(a, ha);  // second removal: no-op
  order.clear();
  sum(mul(a, b)).backward();
  EXPECT_EQ(order, (std::vector<std::string>{"b"}));
}

TEST(AutogradPostAccumulateHook, RejectsNonLeaves) {
  Tensor x = leaf({1.0}, {1});
  Tensor y = mul(x, 2.0);
  EXPECT_THROW(register_post_accumulate_hook(y, [](const Tensor&) {}), Error);
  EXPECT_THROW(register_post_accumulate_hook(from_vector({1.0}, {1}), [](const Tensor&) {}), Error);
}

}  // namespace
}  // namespace moe
