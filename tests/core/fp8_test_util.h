#pragma once
// Shared by the FP8 tests: random inputs, the f64 reference product, and the
// error bound a quantised GEMM must meet against it.
//
// Error bounds (u = relative half-ulp: 2^-4 for e4m3, 2^-3 for e5m2;
// h = half the smallest subnormal: 2^-10 for e4m3, 2^-17 for e5m2;
// s = the element's scale; eps = 2^-24 the f32 unit roundoff):
//   quantisation of one element (RNE, no saturation beyond max):
//     |x' - x| <= e(x) = u |x| + h / s
//   one product: |a'b' - ab| <= e(a)|b| + |a|e(b) + e(a)e(b)
//   f32 arithmetic: products of FP8 values are exact; a chunk of n terms
//   summed in f32 errs by <= (n-1) eps sum|terms|, the scale product 1/sa*1/sb
//   by 3 eps, each promotion fma by eps of the running total, so
//     |C' - C| <= sum_k [e(a)|b| + |a|e(b) + e(a)e(b)]
//                 + (N_C + K/N_C + 4) eps sum_k |a'_k||b'_k|          (worst case)
//   typical (sqrt(K)) behaviour: RNE errors are zero-mean with relative std
//   <= u/sqrt(3), independent over k, so the error of C[m,n] has std
//     <= u sqrt(2/3) sqrt(sum_k a_k^2 b_k^2);
//   we assert |C' - C| <= 6 such sigmas for every element (deterministic
//   seeds; a 6-sigma miss over ~10^4 elements has probability ~1e-5).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "core/fp8/gemm.h"

namespace moe::fp8::bounds {

inline std::vector<float> randn(int64_t n, uint32_t seed, float sigma = 1.0f) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> nd(0.0f, sigma);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = nd(gen);
  return v;
}

// a [M, K] . b [K, N] in f64, row-major.
inline std::vector<double> ref_gemm(const std::vector<float>& a, const std::vector<float>& b, int64_t M, int64_t K,
                                    int64_t N) {
  std::vector<double> c(size_t(M * N), 0.0);
  for (int64_t m = 0; m < M; ++m)
    for (int64_t k = 0; k < K; ++k)
      for (int64_t n = 0; n < N; ++n) c[size_t(m * N + n)] += double(a[size_t(m * K + k)]) * b[size_t(k * N + n)];
  return c;
}

// Row-major transpose of [rows, cols].
inline std::vector<float> transpose(const std::vector<float>& x, int64_t rows, int64_t cols) {
  std::vector<float> t(x.size());
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j) t[size_t(j * rows + i)] = x[size_t(i * cols + j)];
  return t;
}

inline double half_ulp(Format f) { return f == Format::e4m3 ? 0x1p-4 : 0x1p-3; }
inline double half_min_sub(Format f) { return f == Format::e4m3 ? 0x1p-10 : 0x1p-17; }

// Checks every element of c (the product of qa [M, K] and qb [K, N], the
// quantised a and b, promoted every `chunk`) against the worst-case and the
// sqrt(K) bound; returns the Frobenius norm of c - a b.
inline double check_against_f64(const std::vector<float>& a, const Quantized& qa, const std::vector<float>& b,
                                const Quantized& qb, const std::vector<float>& c, int64_t chunk = kPromotionInterval) {
  const int64_t M = qa.rows, K = qa.cols, N = qb.cols;
  const std::vector<double> ref = ref_gemm(a, b, M, K, N);
  const double ua = half_ulp(qa.format), ub = half_ulp(qb.format);
  const double gamma = (double(chunk) + double(K) / double(chunk) + 4) * 0x1p-24;
  double worst_ratio = 0, sigma_ratio = 0, fro = 0;
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      double bound = 0, abs_sum = 0, sq = 0;
      for (int64_t k = 0; k < K; ++k) {
        const double x = a[size_t(m * K + k)], y = b[size_t(k * N + n)];
        const double ex = ua * std::fabs(x) + half_min_sub(qa.format) / qa.scale_at(m, k);
        const double ey = ub * std::fabs(y) + half_min_sub(qb.format) / qb.scale_at(k, n);
        bound += ex * std::fabs(y) + std::fabs(x) * ey + ex * ey;
        abs_sum += (std::fabs(x) + ex) * (std::fabs(y) + ey);
        sq += x * x * y * y;
      }
      bound += gamma * abs_sum;
      const double err = std::fabs(double(c[size_t(m * N + n)]) - ref[size_t(m * N + n)]);
      fro += err * err;
      const double sigma = std::sqrt(ua * ua / 3 + ub * ub / 3) * std::sqrt(sq);
      worst_ratio = std::max(worst_ratio, err / bound);
      sigma_ratio = std::max(sigma_ratio, err / sigma);
    }
  EXPECT_LE(worst_ratio, 1.0) << "worst-case bound violated";
  EXPECT_LE(sigma_ratio, 6.0) << "error beyond 6 sigma of the sqrt(K) model";
  std::printf("  max err / worst-case bound = %.3f, max err / sigma = %.2f\n", worst_ratio, sigma_ratio);
  return std::sqrt(fro);
}

}  // namespace moe::fp8::bounds
