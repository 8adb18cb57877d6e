// Hand-computed values of amax, max, cumsum, softmax, log_softmax and
// cross_entropy, their edge cases and errors.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "core/autograd.h"
#include "core/ops.h"
#include "core/threading.h"

namespace moe {
namespace {

void expect_near(const Tensor& t, const std::vector<double>& want, double tol) {
  std::vector<double> got = t.to_vector();
  ASSERT_EQ(got.size(), want.size()) << t.str();
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], tol) << t.str() << " element " << i;
}

Tensor leaf(const std::vector<double>& v, const Shape& s, DType t = DType::f64) {
  Tensor x = from_vector(v, s, t);
  x.set_requires_grad(true);
  return x;
}

TEST(ReductionOps, SoftmaxHugeLogitsStable) {
  for (DType t : {DType::f32, DType::f64, DType::bf16}) {
    const double d = t == DType::bf16 ? 4 : 1;  // bf16 spaces numbers near 1000 by 4
    Tensor x = from_vector({1000, 1000 + d, -1000, -1000 - d}, {2, 2}, t);
    const double e = std::exp(d);
    const double tol = t == DType::f64 ? 1e-15 : t == DType::f32 ? 1e-7 : 4e-3;
    expect_near(softmax(x), {1 / (1 + e), e / (1 + e), e / (1 + e), 1 / (1 + e)}, tol);
    const double l = std::log1p(e);  // log(1 + e^d)
    expect_near(log_softmax(x), {-l, d - l, d - l, -l}, t == DType::bf16 ? 2e-2 : tol * 10);
  }
}

TEST(ReductionOps, MinusInfLogitsAreMasked) {
  const double inf = INFINITY;
  for (DType t : {DType::f32, DType::f64}) {
    Tensor x = from_vector({-inf, 0, 0, 1, -inf, -inf}, {2, 3}, t);
    expect_near(softmax(x), {0, 0.5, 0.5, 1, 0, 0}, 1e-7);
    std::vector<double> l = log_softmax(x).to_vector();
    EXPECT_EQ(l[0], -inf);
    EXPECT_NEAR(l[1], -std::log(2.0), 1e-7);
    EXPECT_EQ(l[3], 0.0);
    Tensor xg = x.detach();
    xg.set_requires_grad(true);
    Tensor ce = cross_entropy(xg, from_vector({2, 0}, {2}, DType::i64), -100, Reduction::sum);
    EXPECT_NEAR(ce.item(), std::log(2.0), 1e-7);
    ce.backward();
    expect_near(xg.grad(), {0, 0.5, -0.5, 0, 0, 0}, 1e-7);
  }
}

TEST(ReductionOps, CrossEntropyBigLogitsAccurateInF32) {
  // Logits near 1000: the f32 gradient must be as accurate as its inputs allow.
  Tensor base = add(mul(randn({4, 50}, 5, 0, DType::f32), 3.0), 1000.0);
  Tensor t = from_vector({0, 10, 20, 49}, {4}, DType::i64);
  Tensor x32 = base.detach(), x64 = cast(base, DType::f64);
  x32.set_requires_grad(true);
  x64.set_requires_grad(true);
  Tensor l32 = cross_entropy(x32, t), l64 = cross_entropy(x64, t);
  EXPECT_NEAR(l32.item(), l64.item(), 1e-6 * std::abs(l64.item()) + 1e-6);
  l32.backward();
  l64.backward();
  std::vector<double> a = x32.grad().to_vector(), b = x64.grad().to_vector();
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-6 * std::abs(b[i]) + 1e-9) << i;
}

TEST(ReductionOps, LogSoftmaxValuesAlongDim0) {
  // Columns [1, 2, 3] and [0, 0, 0] along dim 0.
  Tensor x = from_vector({1, 0, 2, 0, 3, 0}, {3, 2}, DType::f64);
  const double lse = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0));
  const double l3 = std::log(3.0);
  expect_near(log_softmax(x, 0), {1 - lse, -l3, 2 - lse, -l3, 3 - lse, -l3}, 1e-14);
  expect_near(softmax(x, 0), {std::exp(1 - lse), 1 / 3.0, std::exp(2 - lse), 1 / 3.0, std::exp(3 - lse), 1 / 3.0},
              1e-14);
}

TEST(ReductionOps, SoftmaxBackwardFormulas) {
  Tensor x = leaf({0.5, -1, 2}, {3});
  Tensor w = from_vector({1, 2, 3}, {3}, DType::f64);
  sum(mul(softmax(x), w)).backward();
  std::vector<double> y = softmax(x.detach()).to_vector();
  const double dot = y[0] * 1 + y[1] * 2 + y[2] * 3;
  expect_near(x.grad(), {y[0] * (1 - dot), y[1] * (2 - dot), y[2] * (3 - dot)}, 1e-14);

  Tensor z = leaf({0.5, -1, 2}, {3});
  sum(mul(log_softmax(z), w)).backward();
  expect_near(z.grad(), {1 - 6 * y[0], 2 - 6 * y[1], 3 - 6 * y[2]}, 1e-14);
}

TEST(ReductionOps, CrossEntropyByHandWithIgnoreIndex) {
  const std::vector<double> v = {1, 2, 3, 1, 1, 1, 0, 0, 5};
  Tensor target = from_vector({2, -100, 0}, {3}, DType::i64);
  // Row 0: target 2; row 1 ignored; row 2: target 0.
  const double l0 = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0)) - 3;
  const double l2 = std::log(2 + std::exp(5.0)) - 0;
  expect_near(cross_entropy(from_vector(v, {3, 3}, DType::f64), target), {(l0 + l2) / 2}, 1e-14);
  expect_near(cross_entropy(from_vector(v, {3, 3}, DType::f64), target, -100, Reduction::sum), {l0 + l2}, 1e-14);
  expect_near(cross_entropy(from_vector(v, {3, 3}, DType::f64), target, -100, Reduction::none), {l0, 0, l2},
              1e-14);
  expect_near(cross_entropy(from_vector(v, {3, 3}, DType::f32), target), {(l0 + l2) / 2}, 1e-6);

  // Mean gradient: (softmax - onehot) / 2 on rows 0 and 2, zero on row 1.
  Tensor x = leaf(v, {3, 3});
  cross_entropy(x, target).backward();
  std::vector<double> p = softmax(x.detach()).to_vector();
  expect_near(x.grad(), {p[0] / 2, p[1] / 2, (p[2] - 1) / 2, 0, 0, 0, (p[6] - 1) / 2, p[7] / 2, p[8] / 2}, 1e-14);

  // None: each row's gradient scaled by its own upstream gradient.
  Tensor y = leaf(v, {3, 3});
  cross_entropy(y, target, -100, Reduction::none).backward(from_vector({2, 5, -1}, {3}, DType::f64));
  expect_near(y.grad(), {2 * p[0], 2 * p[1], 2 * (p[2] - 1), 0, 0, 0, -(p[6] - 1), -p[7], -p[8]}, 1e-14);
}

TEST(ReductionOps, CrossEntropyAllIgnoredMeanIsZero) {
  Tensor x = leaf({1, 2, 3, 4}, {2, 2});
  Tensor out = cross_entropy(x, from_vector({-1, -1}, {2}, DType::i64), -1);
  EXPECT_EQ(out.item(), 0.0);
  out.backward();
  expect_near(x.grad(), {0, 0, 0, 0}, 0);
}

TEST(ReductionOps, CrossEntropyBadTargetThrows) {
  Tensor x = from_vector({1, 2, 3, 4, 5, 6}, {2, 3}, DType::f32);
  for (double bad : {7.0, -5.0, 3.0}) {
    Tensor t = from_vector({1, bad}, {2}, DType::i64);
    try {
      cross_entropy(x, t);
      ADD_FAILURE() << "no error for target " << bad;
    } catch (const Error& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find("cross_entropy"), std::string::npos) << msg;
      EXPECT_NE(msg.find("target " + std::to_string(int64_t(bad))), std::string::npos) << msg;
      EXPECT_NE(msg.find("position [1]"), std::string::npos) << msg;
    }
  }
  EXPECT_THROW(cross_entropy(x, from_vector({0, 9}, {2}, DType::i32)), Error);
  // Multi-dim position, i32 targets.
  Tensor x3 = zeros({2, 2, 3}, DType::f32);
  try {
    cross_entropy(x3, from_vector({0, 1, 2, 42}, {2, 2}, DType::i32));
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("target 42 at position [1, 1]"), std::string::npos) << e.what();
  }
  EXPECT_THROW(cross_entropy(x, from_vector({0, 1, 2}, {3}, DType::i64)), Error);  // shape
  EXPECT_THROW(cross_entropy(x, from_vector({0, 1}, {2}, DType::f32)), Error);     // dtype
}

TEST(ReductionOps, MaxTiesPickFirstIndex) {
  Tensor x = leaf({1, 3, 3, 2, 2, 1}, {2, 3});
  ValuesIndices r = max(x, 1);
  expect_near(r.values, {3, 2}, 0);
  EXPECT_EQ(r.indices.dtype(), DType::i64);
  EXPECT_EQ(r.indices.to_vector(), (std::vector<double>{1, 0}));
  sum(r.values).backward();
  expect_near(x.grad(), {0, 1, 0, 1, 0, 0}, 0);

  // Along dim 0 with keepdim, non-contiguous input.
  Tensor y = transpose(from_vector({5, 5, 1, 0, 7, 7}, {3, 2}, DType::f32), 0, 1);  // [[5,1,7],[5,0,7]]
  ValuesIndices c = max(y, 0, true);
  EXPECT_EQ(c.values.shape(), (Shape{1, 3}));
  expect_near(c.values, {5, 1, 7}, 0);
  EXPECT_EQ(c.indices.to_vector(), (std::vector<double>{0, 0, 0}));

  // Integers, and NaN wins (first NaN).
  ValuesIndices i = max(from_vector({4, 9, 9, -2}, {4}, DType::i64), 0);
  EXPECT_EQ(i.values.item(), 9);
  EXPECT_EQ(i.indices.item(), 1);
  ValuesIndices n = max(from_vector({1, NAN, 5, NAN}, {4}, DType::f32), 0);
  EXPECT_TRUE(std::isnan(n.values.item()));
  EXPECT_EQ(n.indices.item(), 1);
  EXPECT_THROW(max(zeros({2, 0}), 1), Error);
}

TEST(ReductionOps, AmaxTiesSplitGradientEvenly) {
  Tensor x = leaf({1, 3, 3, 2, 0, -1}, {2, 3});
  Tensor m = amax(x, {1});
  expect_near(m, {3, 2}, 0);
  sum(m).backward();
  expect_near(x.grad(), {0, 0.5, 0.5, 1, 0, 0}, 0);
  Tensor y = leaf({4, 4, 4, 4}, {2, 2});
  amax(y).backward();
  expect_near(y.grad(), {0.25, 0.25, 0.25, 0.25}, 0);
  expect_near(amax(from_vector({1, 5, 2, 3}, {2, 2}, DType::bf16), {0}, true), {2, 5}, 0);
}

TEST(ReductionOps, CumsumValuesAndReverseGradient) {
  Tensor x = leaf({1, 2, 3, 4}, {4});
  Tensor c = cumsum(x, 0);
  expect_near(c, {1, 3, 6, 10}, 0);
  sum(c).backward();
  expect_near(x.grad(), {4, 3, 2, 1}, 0);
  // [[1, 2], [3, 4], [5, 6]] along dims 0 and 1.
  Tensor m = from_vector({1, 2, 3, 4, 5, 6}, {3, 2}, DType::f32);
  expect_near(cumsum(m, 0), {1, 2, 4, 6, 9, 12}, 0);
  expect_near(cumsum(m, -1), {1, 3, 3, 7, 5, 11}, 0);
  expect_near(cumsum(transpose(m, 0, 1), 1), {1, 4, 9, 2, 6, 12}, 0);
  Tensor ids = cumsum(from_vector({1, 0, 1, 1}, {4}, DType::i64), 0);
  EXPECT_EQ(ids.dtype(), DType::i64);
  EXPECT_EQ(ids.to_vector(), (std::vector<double>{1, 1, 2, 3}));
}

// Forward and backward of big inputs (so 2 threads really split the work)
// are bitwise equal with 1 and 2 threads.
TEST(ReductionOps, BackwardThreadDeterminism) {
  auto run = [](int threads) {
    set_num_threads(threads);
    std::vector<std::vector<double>> r;
    auto record = [&](const Tensor& x, const Tensor& out) {
      sum(mul(out, randn(out.shape(), 3, 0, DType::f32))).backward();
      r.push_back(out.to_vector());
      r.push_back(x.grad().to_vector());
    };
    auto input = [](Shape s) { return randn(s, 11, 0, DType::f32).set_requires_grad(true); };
    Tensor a = input({64, 700}), b = input({300, 40, 3}), c = input({200, 64, 3}), d = input({500, 300});
    Tensor e = input({40, 300, 30});
    record(a, softmax(a));
    record(b, log_softmax(b, 1));
    record(c, cumsum(c, 1));
    record(e, max(e, 1).values);
    record(d, cross_entropy(d, from_vector(std::vector<double>(500, 7), {500}, DType::i64)));
    return r;
  };
  const int saved = num_threads();
  auto one = run(1), two = run(2);
  set_num_threads(saved);
  ASSERT_EQ(one.size(), two.size());
  for (size_t i = 0; i < one.size(); ++i) {
    ASSERT_EQ(one[i].size(), two[i].size());
    EXPECT_EQ(std::memcmp(one[i].data(), two[i].data(), one[i].size() * sizeof(double)), 0) << "result " << i;
  }
}

TEST(ReductionOps, ErrorsNameTheOp) {
  try {
    softmax(from_vector({1, 2}, {2}, DType::i64));
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("softmax"), std::string::npos) << e.what();
  }
  EXPECT_THROW(log_softmax(zeros({2, 3}), 2), Error);
  EXPECT_THROW(cumsum(zeros({2, 3}), -3), Error);
  EXPECT_THROW(amax(zeros({2, 0}), {1}), Error);
}

}  // namespace
}  // namespace moe
