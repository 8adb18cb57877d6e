// Runs every case of the op table through:
//  GradCheck: f64 analytic gradients vs central finite differences of
//             L = sum(out * w) with fixed random weights w; max relative
//             error <= 1e-6, relative to max(|analytic|, |numeric|, 1e-2).
//  ThreadDeterminism: f32 forward and gradients bitwise equal with 1 and 2 threads.
//  LowPrecision: bf16 forward equals the f32 forward rounded through bf16
//             inputs, within bf16 rounding of the output.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "core/autograd.h"
#include "core/threading.h"
#include "tests/core/op_table.h"

namespace moe::test {
namespace {

// Pointer to logical element k of a (possibly strided) tensor.
double* element_ptr(const Tensor& t, int64_t k) {
  int64_t off = 0;
  for (int64_t d = t.dim() - 1; d >= 0; --d) {
    off += (k % t.shape()[d]) * t.strides()[d];
    k /= t.shape()[d];
  }
  return t.data<double>() + off;
}

std::vector<Tensor> make_inputs(const OpCase& c, DType t, bool grad) {
  std::vector<Tensor> in;
  for (size_t i = 0; i < c.inputs.size(); ++i) {
    Tensor x = c.inputs[i].make(t, 1000 + i);
    if (grad && c.inputs[i].differentiable && is_floating(x.dtype())) x.set_requires_grad(true);
    in.push_back(x);
  }
  return in;
}

// L = sum(out * w), w fixed by the output shape.
Tensor loss_of(const Tensor& out) {
  Tensor w = randn(out.shape(), 7, 9, out.dtype());
  return sum(mul(out, w));
}

class OpTable : public ::testing::TestWithParam<OpCase> {};

TEST_P(OpTable, GradCheck) {
  const OpCase& c = GetParam();
  if (!c.differentiable) GTEST_SKIP() << c.name << " is not differentiable";
  std::vector<Tensor> in = make_inputs(c, DType::f64, true);
  Tensor L = loss_of(c.fn(in));
  L.backward();
  NoGradGuard g;
  const double eps = 1e-6;
  double worst = 0;
  std::string where;
  for (size_t i = 0; i < in.size(); ++i) {
    if (!c.inputs[i].differentiable || !in[i].requires_grad()) continue;
    ASSERT_TRUE(in[i].grad().defined()) << c.name << ": input " << i << " got no gradient";
    std::vector<double> analytic = in[i].grad().to_vector();
    for (int64_t k = 0; k < in[i].numel(); ++k) {
      double* p = element_ptr(in[i], k);
      const double x0 = *p;
      *p = x0 + eps;
      const double lp = loss_of(c.fn(in)).item();
      *p = x0 - eps;
      const double lm = loss_of(c.fn(in)).item();
      *p = x0;
      const double numeric = (lp - lm) / (2 * eps);
      const double a = analytic[size_t(k)];
      const double err = std::abs(a - numeric) / std::max({std::abs(a), std::abs(numeric), 1e-2});
      if (err > worst) {
        worst = err;
        where = "input " + std::to_string(i) + " element " + std::to_string(k) + ": analytic " +
                std::to_string(a) + " numeric " + std::to_string(numeric);
      }
    }
  }
  EXPECT_LE(worst, 1e-6) << c.name << " worst at " << where;
}

struct RunResult {
  std::vector<float> out;
  std::vector<std::vector<float>> grads;
};

RunResult run_f32(const OpCase& c) {
  std::vector<Tensor> in = make_inputs(c, DType::f32, c.differentiable);
  Tensor out = c.fn(in);
  RunResult r;
  for (double v : out.to_vector()) r.out.push_back(float(v));
  if (c.differentiable) {
    loss_of(out).backward();
    for (auto& x : in)
      if (x.requires_grad() && x.grad().defined()) {
        std::vector<float> g;
        for (double v : x.grad().to_vector()) g.push_back(float(v));
        r.grads.push_back(g);
      }
  }
  return r;
}

bool bitwise_equal(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

TEST_P(OpTable, ThreadDeterminism) {
  const OpCase& c = GetParam();
  const int saved = num_threads();
  set_num_threads(1);
  RunResult one = run_f32(c);
  set_num_threads(2);
  RunResult two = run_f32(c);
  set_num_threads(saved);
  EXPECT_TRUE(bitwise_equal(one.out, two.out)) << c.name << ": forward differs between 1 and 2 threads";
  ASSERT_EQ(one.grads.size(), two.grads.size());
  for (size_t i = 0; i < one.grads.size(); ++i)
    EXPECT_TRUE(bitwise_equal(one.grads[i], two.grads[i]))
        << c.name << ": gradient " << i << " differs between 1 and 2 threads";
}

TEST_P(OpTable, LowPrecisionForward) {
  const OpCase& c = GetParam();
  if (!c.low_precision) GTEST_SKIP() << c.name << " has no low-precision form";
  NoGradGuard g;
  std::vector<Tensor> lo, ref;
  for (size_t i = 0; i < c.inputs.size(); ++i) {
    Tensor x = c.inputs[i].make(DType::f32, 1000 + i);
    if (is_floating(x.dtype())) {
      lo.push_back(cast(x, DType::bf16));
      ref.push_back(cast(lo.back(), DType::f32));  // the same values in f32
    } else {
      lo.push_back(x);
      ref.push_back(x);
    }
  }
  Tensor out = c.fn(lo);
  Tensor expect = c.fn(ref);
  ASSERT_EQ(out.dtype(), DType::bf16) << c.name;
  ASSERT_EQ(out.shape(), expect.shape()) << c.name;
  std::vector<double> a = out.to_vector(), b = expect.to_vector();
  for (size_t k = 0; k < a.size(); ++k) {
    // Inputs are identical; only the output rounding (and, for composite ops,
    // intermediate roundings) differs: allow a few bf16 ulps.
    EXPECT_NEAR(a[k], b[k], 3 * 0.0078125 * std::max(1.0, std::abs(b[k])))
        << c.name << " element " << k;
    if (std::abs(a[k] - b[k]) > 3 * 0.0078125 * std::max(1.0, std::abs(b[k]))) break;
  }
}

std::string case_name(const ::testing::TestParamInfo<OpCase>& info) {
  std::string s = info.param.name;
  for (char& ch : s)
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  return s;
}

INSTANTIATE_TEST_SUITE_P(Ops, OpTable, ::testing::ValuesIn(op_table()), case_name);

}  // namespace
}  // namespace moe::test
