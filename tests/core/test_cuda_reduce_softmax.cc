// The CUDA reduction and softmax/loss kernels (core/cuda/reduce.cu,
// softmax.cu) against the CPU ones through the backend seam. Max with its
// index, cumsum and the cross-entropy total (one thread, row order) equal
// the CPU bit for bit; row sums, softmax and the losses sum over a block
// tree instead of the CPU's lanes, so they agree within a few ulp. Runs on
// a GPU or the SIMT shim; skipped without a device.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "core/backend/reduce.h"
#include "core/backend/softmax.h"
#include "core/ops.h"
#include "tests/core/cuda_test_util.h"

namespace moe {
namespace {

using namespace cuda_test;
using backend::RowReduce;

TEST(CudaReduce, RowSumsAndMaximaMatchTheCpu) {
  MOE_REQUIRE_DEVICE();
  for (DType t : {DType::f32, DType::f64}) {
    // Short rows, a row longer than a block, a single column, and rows long
    // enough to be cut into chunks (a partial last chunk each).
    for (const Shape& s : {Shape{7, 33}, Shape{3, 1000}, Shape{5, 1}, Shape{1, 4 * 16384 + 1}, Shape{2, 300001}}) {
      const Tensor x = sample(s, 1, t), gx = to_device(x, kGpu);
      for (RowReduce op : {RowReduce::sum, RowReduce::max}) {
        const Tensor c = empty({s[0]}, t), g = empty({s[0]}, t, kGpu);
        backend::reduce_rows(op, x, s[0], s[1], c);
        backend::reduce_rows(op, gx, s[0], s[1], g);
        const std::string what = std::string(op == RowReduce::sum ? "sum" : "max") + " of " + shape_str(s) + " " +
                                 dtype_name(t);
        if (op == RowReduce::max) {
          expect_bitwise(c, g, what);
        } else {
          // Two f64 orders: apart by a few f64 ulps of the sum of |x|, plus
          // one rounding of the result to the dtype.
          const std::vector<double> abs_sums = values(sum(abs(x.to(DType::f64)), {1}));
          const std::vector<double> ref = values(c);
          expect_within(c, g, [&](size_t r) {
            return 8 * eps_of(DType::f64) * abs_sums[r] + eps_of(t) * std::abs(ref[r]);
          }, what);
        }
      }
    }
  }
  // A NaN wins the max; both devices say NaN (also in a chunked row).
  const Tensor x = from_vector({1, std::nan(""), 3, 2, 5, 4}, {2, 3});
  const Tensor g = empty({2}, DType::f32, kGpu), c = empty({2});
  backend::reduce_rows(RowReduce::max, x, 2, 3, c);
  backend::reduce_rows(RowReduce::max, to_device(x, kGpu), 2, 3, g);
  const std::vector<double> v = values(g);
  EXPECT_TRUE(std::isnan(v[0]));
  EXPECT_EQ(v[1], 5.0);
  std::vector<double> longrow(200000, 1.0);
  longrow[123457] = std::nan("");
  const Tensor gl = empty({1}, DType::f32, kGpu);
  backend::reduce_rows(RowReduce::max, to_device(from_vector(longrow, {1, 200000}), kGpu), 1, 200000, gl);
  EXPECT_TRUE(std::isnan(values(gl)[0]));
}

// The gradient norm's reduction: squares summed in f64, short and chunked.
TEST(CudaReduce, SumOfSquaresMatchesTheCpu) {
  MOE_REQUIRE_DEVICE();
  for (DType t : {DType::f32, DType::f64})
    for (const Shape& s : {Shape{1}, Shape{7, 33}, Shape{300001}, Shape{3, 70001}}) {
      const Tensor x = sample(s, 2, t);
      const Tensor c = sum_of_squares(x), g = sum_of_squares(to_device(x, kGpu));
      EXPECT_EQ(g.dtype(), DType::f64);
      EXPECT_EQ(g.dim(), 0);
      const double sq = values(c)[0];
      expect_within(c, g, [&](size_t) { return 8 * eps_of(DType::f64) * sq; },
                    "sum_of_squares " + shape_str(s) + " " + dtype_name(t));
    }
  EXPECT_EQ(values(sum_of_squares(empty({0}, DType::f32, kGpu)))[0], 0.0);
}

TEST(CudaReduce, MaxAlongADimWithItsIndexMatchesTheCpu) {
  MOE_REQUIRE_DEVICE();
  // Ties (the values repeat) keep the first index; in the float runs a NaN
  // beats every number.
  const int64_t outer = 4, n = 9, inner = 5;
  std::vector<double> vals(size_t(outer * n * inner));
  for (size_t i = 0; i < vals.size(); ++i) vals[i] = double((i * 7) % 5);
  for (DType t : {DType::f32, DType::f64, DType::i32, DType::i64}) {
    const bool fp = t == DType::f32 || t == DType::f64;
    std::vector<double> v = vals;
    if (fp) v[size_t(1 * n * inner + 3 * inner + 2)] = std::nan("");
    const Tensor x = from_vector(v, {outer, n, inner}, DType::f64).to(t), gx = to_device(x, kGpu);
    for (bool last : {false, true}) {  // along n, or along the last dim (inner 1)
      const int64_t o = last ? outer * n : outer, len = last ? inner : n, in = last ? 1 : inner;
      const Tensor cv = empty({o, in}, t), ci = empty({o, in}, DType::i64);
      const Tensor gv = empty({o, in}, t, kGpu), gi = empty({o, in}, DType::i64, kGpu);
      backend::max_dim(x, cv, ci, o, len, in);
      backend::max_dim(gx, gv, gi, o, len, in);
      const std::string what = std::string("max along ") + (last ? "the last dim " : "dim 1 ") + dtype_name(t);
      expect_bitwise(ci, gi, what + ": indices");
      const std::vector<double> a = values(cv), b = values(gv);
      for (size_t i = 0; i < a.size(); ++i)
        EXPECT_TRUE(a[i] == b[i] || (std::isnan(a[i]) && std::isnan(b[i]))) << what << " value " << i;
      if (!fp) continue;
      const Tensor g = sample({o, in}, 2, t), cgx = empty({o, len, in}, t), ggx = empty({o, len, in}, t, kGpu);
      backend::max_dim_backward(g, ci, cgx, o, len, in);
      backend::max_dim_backward(to_device(g, kGpu), gi, ggx, o, len, in);
      expect_bitwise(cgx, ggx, what + ": backward");
    }
  }
}

TEST(CudaReduce, PrefixAndSuffixSumsMatchTheCpuBitwise) {
  MOE_REQUIRE_DEVICE();
  for (DType t : {DType::f32, DType::f64, DType::i64}) {
    const Tensor x = t == DType::i64 ? arange(-40, 80).reshape({2, 12, 5}) : sample({2, 12, 5}, 3, t);
    const Tensor gx = to_device(x, kGpu);
    for (bool reverse : {false, true})
      for (bool last : {false, true}) {
        const int64_t o = last ? 24 : 2, len = last ? 5 : 12, in = last ? 1 : 5;
        const Tensor c = empty(x.shape(), t), g = empty(x.shape(), t, kGpu);
        backend::cumsum_dim(x, c, o, len, in, reverse);
        backend::cumsum_dim(gx, g, o, len, in, reverse);
        expect_bitwise(c, g, std::string(reverse ? "suffix" : "prefix") + " sums " + dtype_name(t) +
                                 (last ? " along the last dim" : " along dim 1"));
      }
  }
}

TEST(CudaSoftmax, SoftmaxAndLogSoftmaxForwardAndBackwardMatchTheCpu) {
  MOE_REQUIRE_DEVICE();
  for (DType t : {DType::f32, DType::f64})
    for (const Shape& s : {Shape{6, 19}, Shape{2, 700}})
      for (bool log : {false, true}) {
        const std::string what = std::string(log ? "log_softmax " : "softmax ") + shape_str(s) + " " + dtype_name(t);
        const Tensor x = sample(s, 4, t), gx = to_device(x, kGpu);
        const Tensor cy = empty(s, t), gy = empty(s, t, kGpu);
        backend::softmax_rows(x, cy, s[0], s[1], log);
        backend::softmax_rows(gx, gy, s[0], s[1], log);
        // softmax: a few ulps of each value; log_softmax = (x - m) - log(sum)
        // cancels near 0: a few ulps of |x - m| + |log(sum)| <= 3 max |y|.
        const std::vector<double> y = values(cy);
        const std::vector<double> ymax = values(amax(abs(cy.to(DType::f64)), {1}));
        const double eps = eps_of(t);
        expect_within(cy, gy, [&](size_t i) {
          return log ? 12 * eps * ymax[i / size_t(s[1])] : 4 * eps * std::abs(y[i]);
        }, what);
        // The backward subtracts a row sum from each term (softmax:
        // y (g - sum(g y)); log: g - exp(y) sum(g)): a few ulps of the
        // terms' sizes, |g| + max|y| sum|g| bounding both.
        const Tensor g = sample(s, 5, t), cgx = empty(s, t), ggx = empty(s, t, kGpu);
        backend::softmax_rows_backward(cy, g, cgx, s[0], s[1], log);
        backend::softmax_rows_backward(to_device(cy, kGpu), to_device(g, kGpu), ggx, s[0], s[1], log);
        const std::vector<double> gabs = values(abs(g.to(DType::f64)));
        const std::vector<double> gsum = values(sum(abs(g.to(DType::f64)), {1}));
        const std::vector<double> pmax = values(amax(log ? exp(cy.to(DType::f64)) : abs(cy.to(DType::f64)), {1}));
        expect_within(cgx, ggx, [&](size_t i) {
          const size_t r = i / size_t(s[1]);
          return 8 * eps * (gabs[i] + pmax[r] * gsum[r]);
        }, what + " backward");
      }
}

TEST(CudaSoftmax, CrossEntropyRowsForwardAndBackwardMatchTheCpu) {
  MOE_REQUIRE_DEVICE();
  const int64_t rows = 9, C = 300, ignore = -100;
  for (DType t : {DType::f32, DType::f64})
    for (DType it : {DType::i32, DType::i64}) {
      const std::string what = std::string("cross entropy ") + dtype_name(t) + " targets " + dtype_name(it);
      std::vector<double> tv(rows);
      for (int64_t r = 0; r < rows; ++r) tv[size_t(r)] = r == 4 ? double(ignore) : double((r * 37) % C);
      const Tensor target = from_vector(tv, {rows}, DType::f64).to(it), gt = to_device(target, kGpu);
      const Tensor x = sample({rows, C}, 6, t), gx = to_device(x, kGpu);
      const Tensor cl = empty({rows}, t), cs = empty({rows, 2}, t), csum = empty({2}, DType::f64);
      const Tensor gl = empty({rows}, t, kGpu), gs = empty({rows, 2}, t, kGpu), gsum = empty({2}, DType::f64, kGpu);
      backend::cross_entropy_rows(x, target, ignore, cl, cs, csum, rows, C);
      backend::cross_entropy_rows(gx, gt, ignore, gl, gs, gsum, rows, C);
      expect_ulps(cl, gl, 4, what + ": row losses");
      expect_ulps(cs, gs, 4, what + ": stats");
      expect_ulps(csum, gsum, 8, what + ": total and count");
      EXPECT_EQ(values(gsum)[1], double(rows - 1)) << what;
      for (bool per_row : {false, true}) {
        const Tensor g = per_row ? sample({rows}, 7, t) : full({}, 0.25, t);
        const Tensor cgx = empty({rows, C}, t), ggx = empty({rows, C}, t, kGpu);
        backend::cross_entropy_rows_backward(x, target, cs, g, 1.0 / 8, ignore, cgx, rows, C);
        backend::cross_entropy_rows_backward(gx, gt, to_device(cs, kGpu), to_device(g, kGpu), 1.0 / 8, ignore, ggx,
                                             rows, C);
        expect_ulps(cgx, ggx, 4, what + (per_row ? ": backward, a gradient per row" : ": backward, one gradient"));
      }
    }
}

TEST(CudaSoftmax, FirstBadTargetIsTheCpusPosition) {
  MOE_REQUIRE_DEVICE();
  for (const std::vector<double>& tv : std::vector<std::vector<double>>{
           {1, 2, -100, 3, 0}, {1, 7, 2, -3, 9}, {-100, -100, 5}, {}}) {
    std::vector<double> big = tv;
    for (int k = 0; k < 600 && !tv.empty(); ++k) big.push_back(double(k % 5));  // longer than a block
    for (const std::vector<double>* v : std::vector<const std::vector<double>*>{&tv, &big}) {
      const Tensor target = from_vector(*v, {int64_t(v->size())}, DType::f64).to(DType::i64);
      const Tensor cp = empty({}, DType::i64), gp = empty({}, DType::i64, kGpu);
      backend::first_bad_target(target, 5, -100, cp);
      backend::first_bad_target(to_device(target, kGpu), 5, -100, gp);
      expect_bitwise(cp, gp, "first bad target of " + std::to_string(v->size()) + " targets");
    }
  }
}

}  // namespace
}  // namespace moe
