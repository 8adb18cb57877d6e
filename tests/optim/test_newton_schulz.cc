#include "optim/newton_schulz.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "core/ops.h"
#include "linalg_util.h"
#include "test_util.h"

namespace moe::optim {
namespace {

using testing::floats;
using testing::singular_values;

// Checks the Jacobi helper itself on a matrix with known singular values:
// diag(3, 2) padded with a zero column has singular values {3, 2}.
TEST(NewtonSchulzHelpers, SingularValuesOfKnownMatrix) {
  const float x[] = {3, 0, 0, 0, 2, 0};
  auto sv = singular_values(x, 2, 3);
  std::sort(sv.begin(), sv.end());
  EXPECT_NEAR(sv[0], 2.0, 1e-12);
  EXPECT_NEAR(sv[1], 3.0, 1e-12);
}

// One iteration on a rank-1 row: X = g / |g| has the single singular value 1,
// and the quintic maps 1 to a + b + c = 3.4445 - 4.7750 + 2.0315 = 0.701.
TEST(NewtonSchulz, OneStepOnARowByHand) {
  const Tensor o = newton_schulz(from_vector({3, 4}, {1, 2}), 1);
  const auto v = floats(o);
  EXPECT_NEAR(v[0], 0.701 * 0.6, 1e-6);
  EXPECT_NEAR(v[1], 0.701 * 0.8, 1e-6);
}

// Five steps bring every singular value of a (non-square, so well enough
// conditioned) random matrix into the quintic's band, keeping the singular
// vectors: O M^T (or M^T O for tall M) is then symmetric. The band:
// f(x) = a x + b x^3 + c x^5 has its local max at x = 0.5545 (f = 1.2023)
// and local min at x = 1.0501 (f = 0.6817), so [0.6817, 1.2023] maps into
// itself and small singular values grow into it.
void expect_orthogonalised(int64_t rows, int64_t cols, uint64_t seed) {
  const Tensor m = randn({rows, cols}, seed);
  const Tensor o = newton_schulz(m, 5);
  ASSERT_EQ(o.shape(), m.shape());
  const auto ov = floats(o);
  const auto sv = singular_values(ov.data(), rows, cols);
  ASSERT_EQ(int64_t(sv.size()), std::min(rows, cols));
  for (double s : sv) {
    EXPECT_GT(s, 0.68) << rows << "x" << cols;
    EXPECT_LT(s, 1.21) << rows << "x" << cols;
  }
  const bool wide = rows <= cols;
  const Tensor cross = wide ? matmul(o, transpose(m, 0, 1)) : matmul(transpose(m, 0, 1), o);
  const auto c = floats(cross);
  const int64_t n = std::min(rows, cols);
  double scale = 0;
  for (float x : c) scale = std::max(scale, double(std::abs(x)));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) EXPECT_NEAR(c[size_t(i * n + j)], c[size_t(j * n + i)], 1e-4 * scale);
}

TEST(NewtonSchulz, SingularValuesInBandWide) { expect_orthogonalised(24, 64, 11); }
TEST(NewtonSchulz, SingularValuesInBandTall) { expect_orthogonalised(96, 32, 12); }

// A tall matrix is iterated transposed: its result is the transpose of the
// wide one's.
TEST(NewtonSchulz, TallIsTransposeOfWide) {
  const Tensor m = randn({20, 50}, 13);
  const auto wide = floats(newton_schulz(m, 5));
  const auto tall = floats(newton_schulz(contiguous(transpose(m, 0, 1)), 5));
  for (int64_t i = 0; i < 20; ++i)
    for (int64_t j = 0; j < 50; ++j) EXPECT_NEAR(wide[size_t(i * 50 + j)], tall[size_t(j * 20 + i)], 1e-6);
}

// A stack is E independent matrices: each is normalised by its own norm,
// so scaling one matrix of the stack changes nothing.
TEST(NewtonSchulz, StackIsPerMatrix) {
  const Tensor a = randn({16, 40}, 21), b = randn({16, 40}, 22);
  const Tensor s = newton_schulz(stack({a, mul(b, 1000.0)}, 0), 5);
  ASSERT_EQ(s.shape(), (Shape{2, 16, 40}));
  const auto got_a = floats(select(s, 0, 0)), got_b = floats(select(s, 0, 1));
  const auto want_a = floats(newton_schulz(a, 5)), want_b = floats(newton_schulz(b, 5));
  for (size_t i = 0; i < want_a.size(); ++i) {
    EXPECT_NEAR(got_a[i], want_a[i], 1e-5);
    EXPECT_NEAR(got_b[i], want_b[i], 1e-5);
  }
}

TEST(NewtonSchulz, ZeroStaysZero) {
  const auto v = floats(newton_schulz(zeros({3, 5}), 5));
  for (float x : v) EXPECT_EQ(x, 0.0f);
}

}  // namespace
}  // namespace moe::optim
