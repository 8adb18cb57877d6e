// MatmulPrecision::bf16: operands rounded to bfloat16, products summed in f32.
// Both implementations (the AVX-512 BF16 kernels, and rounded f32 copies on
// the f32 path) are held to an f64 reference over the rounded operands.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/cpu/gemm_bf16.h"
#include "core/dtype_convert.h"
#include "core/ops.h"
#include "core/threading.h"
#include "tests/core/float_bits.h"

namespace moe {
namespace {

float round_bf16(float x) { return fp::bf16_to_f32(fp::f32_to_bf16(x)); }

// The stored [rows, cols] tensor t read as op(t) (transposed when `trans`).
float at(const std::vector<double>& v, int64_t cols, bool trans, int64_t r, int64_t c) {
  return float(trans ? v[size_t(c * cols + r)] : v[size_t(r * cols + c)]);
}

struct Case {
  int64_t M, N, K;
  bool ta, tb;
};

// Runs op(a) @ op(b) under `precision`, with a and b stored transposed when asked
// (so the op sees column-major views), and checks every element against the
// f64 sum of the rounded operands' products: |err| <= (K + 2) 2^-24 sum |a b|.
void check_case(const Case& c, uint64_t seed) {
  const Tensor as = randn(c.ta ? Shape{c.K, c.M} : Shape{c.M, c.K}, seed, 1);
  const Tensor bs = randn(c.tb ? Shape{c.N, c.K} : Shape{c.K, c.N}, seed, 2);
  const Tensor a = c.ta ? transpose(as, 0, 1) : as, b = c.tb ? transpose(bs, 0, 1) : bs;
  Tensor out;
  {
    const MatmulPrecisionScope scope(MatmulPrecision::bf16);
    out = matmul(a, b);
  }
  const std::vector<double> va = as.to_vector(), vb = bs.to_vector(), vo = out.to_vector();
  const int64_t a_cols = as.shape()[1], b_cols = bs.shape()[1];
  double worst = 0;
  for (int64_t i = 0; i < c.M; ++i)
    for (int64_t j = 0; j < c.N; ++j) {
      double ref = 0, mag = 0;
      for (int64_t k = 0; k < c.K; ++k) {
        const double p = double(round_bf16(at(va, a_cols, c.ta, i, k))) * double(round_bf16(at(vb, b_cols, c.tb, k, j)));
        ref += p;
        mag += std::fabs(p);
      }
      const double err = std::fabs(double(vo[size_t(i * c.N + j)]) - ref);
      const double bound = double(c.K + 2) * std::ldexp(1.0, -24) * mag + 1e-30;
      worst = std::max(worst, err / bound);
      ASSERT_LE(err, bound) << "at [" << i << ", " << j << "] of " << c.M << "x" << c.N << "x" << c.K << " ta " << c.ta
                            << " tb " << c.tb;
    }
  (void)worst;
}

const std::vector<Case> kCases = {
    {1, 1, 1, false, false},     {13, 33, 7, false, false},    {12, 32, 64, false, false},
    {37, 70, 129, true, false},  {25, 344, 128, false, true},  {128, 128, 768, true, false},
    {768, 128, 128, false, true}, {50, 45, 333, true, true},    {5, 17, 2, false, false},
};

TEST(MatmulBf16, MatchesRoundedOperandReferenceWithKernels) {
  if (!cpu::bf16_kernels_enabled()) GTEST_SKIP() << "this CPU has no AVX-512 BF16";
  uint64_t seed = 11;
  for (const Case& c : kCases) check_case(c, seed++);
}

TEST(MatmulBf16, MatchesRoundedOperandReferenceOnF32Path) {
  const bool saved = cpu::use_bf16_kernels(false);
  uint64_t seed = 11;
  for (const Case& c : kCases) check_case(c, seed++);
  cpu::use_bf16_kernels(saved);
}

// The rounding really happens: bf16 results sit far from the f32 product and
// close to the product of the rounded operands.
TEST(MatmulBf16, DiffersFromF32ByTheOperandRounding) {
  const Tensor a = randn({64, 96}, 5, 1), b = randn({96, 40}, 5, 2);
  const Tensor f32 = matmul(a, b);
  Tensor bf;
  {
    const MatmulPrecisionScope scope(MatmulPrecision::bf16);
    bf = matmul(a, b);
  }
  const Tensor rounded = matmul(cast(cast(a, DType::bf16), DType::f32), cast(cast(b, DType::bf16), DType::f32));
  const double to_f32 = amax(abs(sub(bf, f32))).item();
  const double to_rounded = amax(abs(sub(bf, rounded))).item();
  EXPECT_GT(to_f32, 1e-3);  // bf16 has 8 significant bits: products move by ~1e-2 here
  EXPECT_LT(to_rounded, 1e-4);
  EXPECT_LT(to_rounded * 50, to_f32);
}

TEST(MatmulBf16, KernelsAgreeWithF32PathOnRoundedOperands) {
  if (!cpu::bf16_kernels_enabled()) GTEST_SKIP() << "this CPU has no AVX-512 BF16";
  const Tensor a = randn({100, 300}, 9, 1), b = randn({300, 70}, 9, 2);
  const MatmulPrecisionScope scope(MatmulPrecision::bf16);
  const Tensor fast = matmul(a, b);
  const bool saved = cpu::use_bf16_kernels(false);
  const Tensor slow = matmul(a, b);
  cpu::use_bf16_kernels(saved);
  EXPECT_LT(amax(abs(sub(fast, slow))).item(), 1e-4);
}

TEST(MatmulBf16, BitwiseTheSameForAnyThreadCount) {
  const Tensor a = randn({300, 200}, 3, 1), b = randn({200, 344}, 3, 2);
  const int saved = num_threads();
  const MatmulPrecisionScope scope(MatmulPrecision::bf16);
  set_num_threads(1);
  const std::vector<double> one = matmul(a, b).to_vector();
  set_num_threads(2);
  const std::vector<double> two = matmul(a, b).to_vector();
  set_num_threads(3);
  const std::vector<double> three = matmul(a, b).to_vector();
  set_num_threads(saved);
  ASSERT_EQ(one.size(), two.size());
  for (size_t i = 0; i < one.size(); ++i) {
    ASSERT_EQ(test::bits(float(one[i])), test::bits(float(two[i]))) << i;
    ASSERT_EQ(test::bits(float(one[i])), test::bits(float(three[i]))) << i;
  }
}

// The backward products run at the forward's precision, even when backward
// is called outside the scope.
TEST(MatmulBf16, BackwardUsesTheForwardPrecision) {
  const Tensor a = randn({20, 30}, 4, 1).set_requires_grad(), b = randn({30, 10}, 4, 2).set_requires_grad();
  const Tensor g = randn({20, 10}, 4, 3);
  {
    const MatmulPrecisionScope scope(MatmulPrecision::bf16);
    sum(mul(matmul(a, b), g)).backward();
  }
  const MatmulPrecisionScope scope(MatmulPrecision::bf16);
  const Tensor ga = matmul(g, transpose(b.detach(), 0, 1)), gb = matmul(transpose(a.detach(), 0, 1), g);
  EXPECT_EQ(amax(abs(sub(a.grad(), ga))).item(), 0.0);
  EXPECT_EQ(amax(abs(sub(b.grad(), gb))).item(), 0.0);
  // and not the f32 ones
  const Tensor ga32 = [&] {
    const MatmulPrecisionScope f32(MatmulPrecision::fp32);
    return matmul(g, transpose(b.detach(), 0, 1));
  }();
  EXPECT_GT(amax(abs(sub(a.grad(), ga32))).item(), 1e-4);
}

TEST(MatmulBf16, GroupedMatmulRoundsEachExpertsOperands) {
  const Tensor x = randn({9, 16}, 6, 1), w = randn({3, 16, 8}, 6, 2);
  const std::vector<int64_t> rows = {4, 0, 5};
  Tensor out;
  {
    const MatmulPrecisionScope scope(MatmulPrecision::bf16);
    out = grouped_matmul(x, w, rows);
  }
  const Tensor xr = cast(cast(x, DType::bf16), DType::f32), wr = cast(cast(w, DType::bf16), DType::f32);
  const Tensor ref = grouped_matmul(xr, wr, rows);
  EXPECT_LT(amax(abs(sub(out, ref))).item(), 1e-5);
  EXPECT_GT(amax(abs(sub(out, grouped_matmul(x, w, rows)))).item(), 1e-4);
}

// grouped_matmul runs its groups as one batch of the bf16 kernels (one
// packing and one tile pass, split by work): each group's output, dx rows
// and dw slice must be bitwise what one matmul of that group alone gives,
// with empty, one-row and ragged groups, at 1, 2 and 3 threads.
TEST(MatmulBf16, GroupedBatchIsBitwiseEachGroupAlone) {
  if (!cpu::bf16_kernels_enabled()) GTEST_SKIP() << "this CPU has no AVX-512 BF16";
  const std::vector<int64_t> rows = {37, 0, 1, 130, 12, 0, 64};
  const int64_t R = 244, K = 96, N = 72;
  const Tensor x = randn({R, K}, 41, 1), w = randn({int64_t(rows.size()), K, N}, 41, 2), g = randn({R, N}, 41, 3);
  const MatmulPrecisionScope scope(MatmulPrecision::bf16);
  const int saved = num_threads();
  for (int threads : {1, 2, 3}) {
    set_num_threads(threads);
    Tensor xg = x.detach().set_requires_grad(true), wg = w.detach().set_requires_grad(true);
    Tensor out = grouped_matmul(xg, wg, rows);
    out.backward(g);
    int64_t off = 0;
    for (size_t e = 0; e < rows.size(); ++e) {
      const std::string what = std::to_string(threads) + " threads, group " + std::to_string(e);
      const Tensor we = select(w, 0, int64_t(e));
      if (rows[e] == 0) {
        EXPECT_EQ(amax(abs(select(wg.grad(), 0, int64_t(e)))).item(), 0.0) << what;
        continue;
      }
      const Tensor xe = narrow(x, 0, off, rows[e]), ge = narrow(g, 0, off, rows[e]);
      // f32 values are exact in to_vector's doubles: equal vectors, equal bits.
      EXPECT_EQ(narrow(out, 0, off, rows[e]).to_vector(), matmul(xe, we).to_vector()) << what << " out";
      EXPECT_EQ(narrow(xg.grad(), 0, off, rows[e]).to_vector(), matmul(ge, transpose(we, 0, 1)).to_vector())
          << what << " dx";
      EXPECT_EQ(select(wg.grad(), 0, int64_t(e)).to_vector(), matmul(transpose(xe, 0, 1), ge).to_vector())
          << what << " dw";
      off += rows[e];
    }
  }
  set_num_threads(saved);
}

TEST(MatmulBf16, NanAndInfPropagate) {
  Tensor a = randn({4, 8}, 8, 1);
  const Tensor b = rand({8, 3}, 8, 2);  // in [0, 1): row 0 below stays finite in f32
  std::vector<double> va = a.to_vector();
  va[2 * 8 + 5] = test::kNaN;
  va[3 * 8 + 1] = test::kInf;
  va[0] = 3.4e38;  // finite in f32, past the midpoint above bf16's largest value: inf
  a = from_vector(va, {4, 8});
  const std::vector<double> f32 = matmul(a, b).to_vector();
  for (int j = 0; j < 3; ++j) ASSERT_TRUE(std::isfinite(f32[size_t(j)])) << j;
  const MatmulPrecisionScope scope(MatmulPrecision::bf16);
  for (bool kernels : {true, false}) {
    const bool saved = cpu::use_bf16_kernels(kernels);
    const std::vector<double> o = matmul(a, b).to_vector();
    cpu::use_bf16_kernels(saved);
    for (int j = 0; j < 3; ++j) {
      EXPECT_TRUE(std::isnan(o[size_t(j)]) || std::isinf(o[size_t(j)])) << kernels << " " << j;
      EXPECT_TRUE(std::isfinite(o[size_t(1 * 3 + j)])) << kernels << " " << j;
      EXPECT_TRUE(std::isnan(o[size_t(2 * 3 + j)])) << kernels << " " << j;
      EXPECT_TRUE(std::isinf(o[size_t(3 * 3 + j)]) || std::isnan(o[size_t(3 * 3 + j)])) << kernels << " " << j;
    }
  }
}

TEST(MatmulBf16, F64IgnoresThePrecision) {
  const Tensor a = randn({7, 9}, 2, 1, DType::f64), b = randn({9, 5}, 2, 2, DType::f64);
  const Tensor f64 = matmul(a, b);
  const MatmulPrecisionScope scope(MatmulPrecision::bf16);
  EXPECT_EQ(amax(abs(sub(matmul(a, b), f64))).item(), 0.0);
}

}  // namespace
}  // namespace moe
