// The CUDA copy and elementwise kernels (core/cuda/copy.cu, elementwise.cu)
// against the CPU ones, through the backend seam: bit for bit where both
// devices round alike (conversions, arithmetic, IEEE sqrt), within 4 ulp
// for the transcendental formulas (GPU libm and FMA contraction may differ
// in the last bits). Runs on a GPU, or on the SIMT shim (MOE_CUDA=SIM);
// skipped without a device.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "core/backend/copy.h"
#include "core/backend/elementwise.h"
#include "core/cuda/runtime.h"
#include "core/ops.h"
#include "tests/core/cuda_test_util.h"

namespace moe {
namespace {

using namespace cuda_test;

// silu'(x) = s (1 + x (1 - s)) cancels where x (1 - s) is near -1: the
// bound follows its terms, |s| (1 + |x (1 - s)|), times `factor`.
std::function<double(size_t)> dsilu_bound(const Tensor& x, const Tensor& factor, DType t) {
  const std::vector<double> xv = values(x), fv = factor.defined() ? values(factor) : std::vector<double>();
  return [xv, fv, t](size_t i) {
    const double s = 1 / (1 + std::exp(-xv[i])), f = fv.empty() ? 1.0 : std::abs(fv[i]);
    return 8 * eps_of(t) * f * std::abs(s) * (1 + std::abs(xv[i] * (1 - s))) + 1e-300;
  };
}

TEST(CudaCopy, ToDeviceAndBackIsTheSameBytes) {
  MOE_REQUIRE_DEVICE();
  for (DType t : {DType::f32, DType::f64, DType::bf16, DType::i64, DType::b8}) {
    const Tensor x = sample({3, 5, 7}, 1).to(t);
    const Tensor g = to_device(x, kGpu);
    EXPECT_TRUE(g.device() == kGpu);
    expect_bitwise(x, g, std::string("round trip ") + dtype_name(t));
  }
}

TEST(CudaCopy, StridedBroadcastAndConvertingCopiesMatchTheCpu) {
  MOE_REQUIRE_DEVICE();
  const Tensor x = sample({4, 6, 5}, 2);
  const Tensor gx = to_device(x, kGpu);
  // A transposed (non-contiguous) source, into every dtype, saturating or not.
  for (DType t : {DType::f64, DType::bf16, DType::f16, DType::f8e4m3, DType::f8e5m2, DType::i32, DType::b8}) {
    for (bool sat : {false, true}) {
      const Tensor src = x.transpose(0, 2), gsrc = gx.transpose(0, 2);
      const Tensor c = empty(src.shape(), t), g = empty(src.shape(), t, kGpu);
      backend::copy_strided(c, src, sat);
      backend::copy_strided(g, gsrc, sat);
      expect_bitwise(c, g, std::string("transposed into ") + dtype_name(t) + (sat ? " saturating" : ""));
    }
  }
  // A row broadcast over a strided destination (every other column).
  const Tensor row = sample({5}, 3), grow = to_device(row, kGpu);
  const Tensor c = zeros({4, 10}), g = zeros({4, 10}, DType::f32, kGpu);
  backend::copy_strided(slice(c, 1, 0, 10, 2), row, false);
  backend::copy_strided(slice(g, 1, 0, 10, 2), grow, false);
  expect_bitwise(c, g, "row broadcast into strided columns");
}

TEST(CudaCopy, FillsMatchTheCpu) {
  MOE_REQUIRE_DEVICE();
  for (DType t : {DType::f32, DType::bf16, DType::f8e4m3, DType::i64, DType::b8}) {
    const Tensor c = zeros({6, 4}, t), g = zeros({6, 4}, t, kGpu);
    backend::fill(slice(c, 1, 1, 3), -2.75);
    backend::fill(slice(g, 1, 1, 3), -2.75);
    expect_bitwise(c, g, std::string("fill of a column slice, ") + dtype_name(t));
  }
  for (DType t : {DType::f32, DType::f64, DType::bf16}) {
    const Tensor c = empty({1001}, t), g = empty({1001}, t, kGpu);
    backend::fill_uniform(c, 42, 7);
    backend::fill_uniform(g, 42, 7);
    expect_bitwise(c, g, std::string("uniform ") + dtype_name(t));
  }
}

TEST(CudaElementwise, EveryUnaryOpMatchesTheCpu) {
  MOE_REQUIRE_DEVICE();
  using math::Unary;
  for (DType t : {DType::f32, DType::f64}) {
    const Tensor x = sample({3, 333}, 4, t), gx = to_device(x, kGpu);
    const Tensor xp = abs(x), gxp = to_device(xp, kGpu);  // for log, sqrt, rsqrt, pow
    for (int i = 0; i <= int(Unary::sign); ++i) {
      const Unary op = Unary(i);
      const bool positive = op == Unary::log || op == Unary::sqrt || op == Unary::rsqrt || op == Unary::pow;
      const Tensor& in = positive ? xp : x;
      const Tensor& gin = positive ? gxp : gx;
      const double p = op == Unary::pow ? 1.7 : 0.375;
      const Tensor c = empty(in.shape(), t), g = empty(in.shape(), t, kGpu);
      backend::unary(op, in, p, c);
      backend::unary(op, gin, p, g);
      const std::string what = "unary op " + std::to_string(i) + " in " + dtype_name(t);
      const bool exact = op == Unary::neg || op == Unary::sqrt || op == Unary::relu || op == Unary::abs ||
                         op == Unary::add_scalar || op == Unary::mul_scalar || op == Unary::step ||
                         op == Unary::sign || op == Unary::rsqrt;
      if (exact)
        expect_bitwise(c, g, what);
      else if (op == Unary::dsilu)
        expect_within(c, g, dsilu_bound(in, Tensor(), t), what);
      else
        expect_ulps(c, g, 4, what);
      // A transposed input.
      const Tensor ct = empty({in.shape()[1], in.shape()[0]}, t), gt_ = empty(ct.shape(), t, kGpu);
      backend::unary(op, in.transpose(0, 1), p, ct);
      backend::unary(op, gin.transpose(0, 1), p, gt_);
      if (exact)
        expect_bitwise(ct, gt_, what + " of a transposed input");
      else if (op == Unary::dsilu)
        expect_within(ct, gt_, dsilu_bound(in.transpose(0, 1).contiguous(), Tensor(), t),
                      what + " of a transposed input");
      else
        expect_ulps(ct, gt_, 4, what + " of a transposed input");
    }
  }
}

TEST(CudaElementwise, BinaryOpsWithBroadcastsAndBoolResultsMatchTheCpu) {
  MOE_REQUIRE_DEVICE();
  using math::Binary;
  const Tensor a = sample({4, 1, 9}, 5), b = sample({3, 1}, 6);
  const Tensor ga = to_device(a, kGpu), gb = to_device(b, kGpu);
  for (int i = 0; i <= int(Binary::gt); ++i) {
    const Binary op = Binary(i);
    const bool cmp = op == Binary::eq || op == Binary::lt || op == Binary::gt;
    const DType out = cmp ? DType::b8 : DType::f32;
    const Tensor c = empty({4, 3, 9}, out), g = empty({4, 3, 9}, out, kGpu);
    backend::binary(op, a, b, c);
    backend::binary(op, ga, gb, g);
    expect_bitwise(c, g, "binary op " + std::to_string(i));
  }
  // Integers, and a strided output.
  const Tensor ia = arange(0, 24).reshape({4, 6}), ib = arange(5, 11);
  const Tensor c = zeros({6, 4}, DType::i64), g = zeros({6, 4}, DType::i64, kGpu);
  backend::binary(Binary::mul, ia, ib, c.transpose(0, 1));
  backend::binary(Binary::mul, to_device(ia, kGpu), to_device(ib, kGpu), g.transpose(0, 1));
  expect_bitwise(c, g, "i64 product into a transposed output");
}

TEST(CudaElementwise, SwigluAndWhereMatchTheCpu) {
  MOE_REQUIRE_DEVICE();
  for (DType t : {DType::f32, DType::f64}) {
    const Tensor gate = sample({5, 77}, 7, t), up = sample({5, 77}, 8, t), dy = sample({5, 77}, 9, t);
    const Tensor ggate = to_device(gate, kGpu), gup = to_device(up, kGpu), gdy = to_device(dy, kGpu);
    const Tensor c = empty(gate.shape(), t), g = empty(gate.shape(), t, kGpu);
    backend::swiglu(gate, up, c);
    backend::swiglu(ggate, gup, g);
    expect_ulps(c, g, 4, std::string("swiglu ") + dtype_name(t));
    const Tensor da = empty(gate.shape(), t), db = empty(gate.shape(), t);
    const Tensor gda = empty(gate.shape(), t, kGpu), gdb = empty(gate.shape(), t, kGpu);
    backend::swiglu_backward(dy, gate, up, da, db);
    backend::swiglu_backward(gdy, ggate, gup, gda, gdb);
    expect_within(da, gda, dsilu_bound(gate, mul(dy, up), t), std::string("swiglu dgate ") + dtype_name(t));
    expect_ulps(db, gdb, 4, std::string("swiglu dup ") + dtype_name(t));
  }
  const Tensor cond = gt(sample({4, 1}, 10), zeros({}));
  const Tensor a = sample({4, 6}, 11), b = sample({6}, 12);
  const Tensor c = empty({4, 6}), g = empty({4, 6}, DType::f32, kGpu);
  backend::where(cond, a, b, c);
  backend::where(to_device(cond, kGpu), to_device(a, kGpu), to_device(b, kGpu), g);
  expect_bitwise(c, g, "where with a broadcast condition and operand");
}

// The seam end to end: ops on GPU tensors allocate there and run these
// kernels; a mixed-device call names both devices.
TEST(CudaElementwise, OpsOnGpuTensorsStayOnTheGpu) {
  MOE_REQUIRE_DEVICE();
  const Tensor a = sample({8, 16}, 13), b = sample({16}, 14);
  const Tensor ga = to_device(a, kGpu), gb = to_device(b, kGpu);
  const Tensor g = mul(add(ga, gb), full({}, 0.5, DType::f32, kGpu));
  EXPECT_TRUE(g.device() == kGpu);
  expect_bitwise(mul(add(a, b), full({}, 0.5)), g, "mul(add(a, b), 0.5)");
  try {
    (void)add(ga, b);
    ADD_FAILURE() << "adding a GPU and a CPU tensor did not throw";
  } catch (const std::exception& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("cuda:0"), std::string::npos) << m;
    EXPECT_NE(m.find("cpu"), std::string::npos) << m;
  }
}

}  // namespace
}  // namespace moe
