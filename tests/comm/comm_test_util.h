#pragma once
// Inputs every rank can rebuild for every other rank, so each test computes
// the expected result of a collective locally from (rank, seed).
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <vector>

#include "core/ops.h"
#include "tests/mpi_test_util.h"

namespace moe::test {

// Small integers in [-100, 100]: sums over a few ranks are exact in every
// dtype, so references compare exactly (avg aside).
inline double rank_value(int rank, int64_t i, uint64_t seed) {
  const uint64_t h = (uint64_t(rank) + 1) * 1000003u + uint64_t(i) * 7919u + seed * 104729u;
  return double(int64_t(h % 201) - 100);
}

// Rank `rank`'s input: logical element i (row-major) is rank_value(rank, i, seed).
inline Tensor rank_tensor(int rank, const Shape& shape, uint64_t seed, DType dtype = DType::f32) {
  std::vector<double> v(size_t(shape_numel(shape)));
  for (size_t i = 0; i < v.size(); ++i) v[i] = rank_value(rank, int64_t(i), seed);
  return from_vector(v, shape, dtype);
}

// The same values through a transposed (non-contiguous) view of a 2-D+ tensor.
inline Tensor non_contiguous(const Tensor& x) {
  Tensor t = contiguous(x.transpose(0, 1)).transpose(0, 1);
  if (x.size(0) > 1 && x.size(1) > 1) {
    EXPECT_FALSE(t.is_contiguous());
  }
  return t;
}

// Every rank's input, in rank order.
template <typename MakeInput>
std::vector<Tensor> all_inputs(int world, MakeInput make) {
  std::vector<Tensor> xs;
  for (int r = 0; r < world; ++r) xs.push_back(make(r));
  return xs;
}

inline void expect_same(const Tensor& got, const Tensor& want) {
  ASSERT_TRUE(got.defined());
  EXPECT_EQ(shape_str(got.shape()), shape_str(want.shape()));
  EXPECT_EQ(got.dtype(), want.dtype());
  EXPECT_TRUE(got.is_contiguous());
  if (got.shape() != want.shape()) return;
  EXPECT_EQ(got.to_vector(), want.to_vector());
}

inline void expect_near(const Tensor& got, const Tensor& want, double tol) {
  ASSERT_TRUE(got.defined());
  ASSERT_EQ(shape_str(got.shape()), shape_str(want.shape()));
  const std::vector<double> g = got.to_vector(), w = want.to_vector();
  for (size_t i = 0; i < g.size(); ++i) EXPECT_NEAR(g[i], w[i], tol) << "element " << i;
}

inline int64_t sum_of(const std::vector<int64_t>& v) {
  int64_t s = 0;
  for (int64_t x : v) s += x;
  return s;
}

// Random sizes that every rank draws identically.
inline std::mt19937_64 shared_rng(uint64_t seed) { return std::mt19937_64(seed); }
inline int64_t draw(std::mt19937_64& rng, int64_t lo, int64_t hi) {
  return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
}

}  // namespace moe::test
