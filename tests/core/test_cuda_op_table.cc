// The op table's parity run: every op of tests/core/op_table.h on a CUDA
// device (a GPU, or the SIMT shim) against the CPU backend, through the ops
// and autograd themselves. Forward and backward in f32 (outputs within
// 2e-5, gradients within 1e-4 of the CPU result's largest magnitude: the
// GPU sums in its own orders); the bf16 forward within 3 bf16 ulps of the
// CPU's; integer and bool outputs bit for bit. Inputs are made on the host
// and copied (views arrive contiguous on the device; the kernel tests cover
// strided layouts). Skipped without a device.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "core/autograd.h"
#include "tests/core/cuda_test_util.h"
#include "tests/core/op_table.h"

namespace moe::test {
namespace {

using cuda_test::kGpu;

struct Inputs {
  std::vector<Tensor> cpu, gpu;
};

Inputs make(const OpCase& c, DType t, bool grad) {
  Inputs in;
  for (size_t i = 0; i < c.inputs.size(); ++i) {
    Tensor x = c.inputs[i].make(DType::f32, 1000 + i);
    if (t != DType::f32 && is_floating(x.dtype())) x = cast(x, t).detach();
    Tensor g = to_device(x.detach(), kGpu);
    if (grad && c.inputs[i].differentiable && is_floating(x.dtype())) {
      x.set_requires_grad(true);
      g.set_requires_grad(true);
    }
    in.cpu.push_back(x);
    in.gpu.push_back(g);
  }
  return in;
}

double max_abs(const std::vector<double>& v) {
  double m = 0;
  for (double x : v)
    if (std::isfinite(x)) m = std::max(m, std::abs(x));
  return m;
}

// Element by element within rel * max(1, max |cpu|); NaN where the CPU has NaN.
void expect_near_all(const Tensor& cpu, const Tensor& gpu, double rel, const std::string& what) {
  ASSERT_TRUE(gpu.device().is_cuda()) << what << ": the result is on " << gpu.device().str();
  ASSERT_EQ(cpu.shape(), gpu.shape()) << what;
  ASSERT_EQ(cpu.dtype(), gpu.dtype()) << what;
  const std::vector<double> a = cpu.to_vector(), b = gpu.to_vector();
  if (!is_floating(cpu.dtype())) {
    EXPECT_EQ(a, b) << what << ": integer results differ";
    return;
  }
  const double tol = rel * std::max(1.0, max_abs(a));
  for (size_t k = 0; k < a.size(); ++k) {
    if (std::isnan(a[k]) && std::isnan(b[k])) continue;
    if (a[k] == b[k]) continue;
    if (!(std::abs(a[k] - b[k]) <= tol)) {
      ADD_FAILURE() << what << ": element " << k << " is " << b[k] << " on the GPU, " << a[k] << " on the CPU (tol "
                    << tol << ")";
      return;
    }
  }
}

Tensor weighted_sum(const Tensor& out) {
  Tensor w = randn(out.shape(), 7, 9, out.dtype());
  if (out.device().is_cuda()) w = to_device(w, out.device());
  return sum(mul(out, w));
}

class CudaOpParity : public ::testing::TestWithParam<OpCase> {};

TEST_P(CudaOpParity, F32ForwardAndBackward) {
  if (cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device";
  const OpCase& c = GetParam();
  Inputs in = make(c, DType::f32, c.differentiable);
  const Tensor oc = c.fn(in.cpu), og = c.fn(in.gpu);
  expect_near_all(oc, og, 2e-5, c.name + " forward");
  if (!c.differentiable) return;
  weighted_sum(oc).backward();
  weighted_sum(og).backward();
  for (size_t i = 0; i < in.cpu.size(); ++i) {
    if (!in.cpu[i].requires_grad()) continue;
    ASSERT_EQ(in.cpu[i].grad().defined(), in.gpu[i].grad().defined()) << c.name << ": input " << i;
    if (!in.cpu[i].grad().defined()) continue;
    expect_near_all(in.cpu[i].grad(), in.gpu[i].grad(), 1e-4, c.name + " gradient of input " + std::to_string(i));
  }
}

TEST_P(CudaOpParity, Bf16Forward) {
  if (cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device";
  const OpCase& c = GetParam();
  if (!c.low_precision) GTEST_SKIP() << c.name << " has no low-precision form";
  NoGradGuard g;
  Inputs in = make(c, DType::bf16, false);
  expect_near_all(c.fn(in.cpu), c.fn(in.gpu), 3 * 0.0078125, c.name + " bf16 forward");
}

std::string case_name(const ::testing::TestParamInfo<OpCase>& info) {
  std::string s = info.param.name;
  for (char& ch : s)
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  return s;
}

INSTANTIATE_TEST_SUITE_P(Ops, CudaOpParity, ::testing::ValuesIn(op_table()), case_name);

}  // namespace
}  // namespace moe::test
