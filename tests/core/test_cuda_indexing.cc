// The CUDA indexing and permutation kernels (core/cuda/indexing.cu) against
// the CPU ones through the backend seam, bit for bit: index results are
// exact, and every addition runs in the CPU's order. Ragged cases: ties and
// NaNs in sorts, repeated indices in the scatters, strided operands, empty
// bins, empty experts and more assignments than one sort chunk. Runs on a GPU or the SIMT shim; skipped without a device.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "core/backend/indexing.h"
#include "core/ops.h"
#include "tests/core/cuda_test_util.h"

namespace moe {
namespace {

using namespace cuda_test;

Tensor ids_of(const std::vector<double>& v, const Shape& s) { return from_vector(v, s, DType::f64).to(DType::i64); }

std::vector<double> cycle(int64_t n, int64_t mod, int64_t mul = 7) {
  std::vector<double> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[size_t(i)] = double((i * mul + i / 3) % mod);
  return v;
}

TEST(CudaIndexing, FirstOutOfRangeMatchesTheCpu) {
  MOE_REQUIRE_DEVICE();
  for (int64_t bad : {-1, 0, 5, 699}) {
    std::vector<double> v = cycle(700, 9);
    if (bad >= 0) v[size_t(bad)] = bad % 2 ? 9 : -1;
    const Tensor idx = ids_of(v, {700});
    const Tensor c = empty({}, DType::i64), g = empty({}, DType::i64, kGpu);
    backend::first_out_of_range(idx, 0, 9, c);
    backend::first_out_of_range(to_device(idx, kGpu), 0, 9, g);
    expect_bitwise(c, g, "first out of range, case " + std::to_string(bad));
  }
}

TEST(CudaIndexing, SortedIndicesAreTheStableOrderWithNaNsAndTies) {
  MOE_REQUIRE_DEVICE();
  const int64_t rows = 5, len = 33;
  std::vector<double> v = cycle(rows * len, 6);  // many ties
  v[3] = std::nan("");
  v[20] = std::nan("");
  v[40] = -std::numeric_limits<double>::infinity();
  for (DType t : {DType::f32, DType::f64, DType::i32, DType::i64, DType::b8}) {
    std::vector<double> vt = v;
    if (t != DType::f32 && t != DType::f64)
      for (double& x : vt) x = std::isfinite(x) ? x : 2;
    const Tensor x = from_vector(vt, {rows, len}, DType::f64).to(t), gx = to_device(x, kGpu);
    for (bool desc : {false, true})
      for (int64_t k : {int64_t(1), int64_t(4), len}) {
        const Tensor c = empty({rows, k}, DType::i64), g = empty({rows, k}, DType::i64, kGpu);
        backend::sorted_indices(x, rows, len, k, desc, c);
        backend::sorted_indices(gx, rows, len, k, desc, g);
        expect_bitwise(c, g, std::string("sorted_indices ") + dtype_name(t) + (desc ? " descending" : "") + " k " +
                                 std::to_string(k));
      }
  }
}

// The radix sort's keys: signed zeros, infinities, subnormals, NaNs of
// either sign and negative integers, one long row (several CUB tiles) and
// many short ones, against the CPU's comparison sort.
TEST(CudaIndexing, SortedIndicesOfSpecialValuesAndLongRows) {
  MOE_REQUIRE_DEVICE();
  const double inf = std::numeric_limits<double>::infinity(), nan = std::nan("");
  const std::vector<double> special = {0.0,  -0.0, 1.0,  -1.0, inf,   -inf, nan,     -nan,
                                       1e-310, -1e-310, 1e-40, -1e-40, 3.5, -3.5, 1e30, -1e30};
  for (auto [rows, len] : {std::pair<int64_t, int64_t>{1, 4099}, {300, 7}, {2, 1}})
    for (DType t : {DType::f32, DType::f64, DType::i32, DType::i64}) {
      std::vector<double> v(static_cast<size_t>(rows * len));
      for (size_t i = 0; i < v.size(); ++i) {
        double x = special[(i * 7 + i / 3) % special.size()];
        if (t == DType::i32 || t == DType::i64) x = std::isfinite(x) ? std::trunc(std::clamp(x, -1e9, 1e9)) : -5;
        v[i] = x;
      }
      const Tensor x = from_vector(v, {rows, len}, DType::f64).to(t), gx = to_device(x, kGpu);
      for (bool desc : {false, true}) {
        const int64_t k = len > 3 ? len - 3 : len;
        const Tensor c = empty({rows, k}, DType::i64), g = empty({rows, k}, DType::i64, kGpu);
        backend::sorted_indices(x, rows, len, k, desc, c);
        backend::sorted_indices(gx, rows, len, k, desc, g);
        expect_bitwise(c, g, std::string("sorted_indices ") + dtype_name(t) + " " + std::to_string(rows) + " x " +
                                 std::to_string(len) + (desc ? " descending" : ""));
      }
    }
}

TEST(CudaIndexing, GatherAndScatterAddAlongEachDimMatchTheCpuBitwise) {
  MOE_REQUIRE_DEVICE();
  const Tensor x = sample({4, 6, 5}, 1), gx = to_device(x, kGpu);
  for (int64_t dim = 0; dim < 3; ++dim) {
    Shape is = {4, 6, 5};
    is[size_t(dim)] = 7;  // more index entries than the dim: repeats
    const Tensor index = ids_of(cycle(shape_numel(is), x.shape()[size_t(dim)]), is), gindex = to_device(index, kGpu);
    const Tensor c = empty(is), g = empty(is, DType::f32, kGpu);
    backend::gather(x, dim, index, c);
    backend::gather(gx, dim, gindex, g);
    expect_bitwise(c, g, "gather along dim " + std::to_string(dim));
    // scatter_add into a transposed (strided) output, repeated targets.
    const Tensor src = sample(is, 2), gsrc = to_device(src, kGpu);
    for (DType t : {DType::f32, DType::i64}) {
      const Tensor s = t == DType::f32 ? src : cast(mul(src, full({}, 100.0)), DType::i64);
      const Tensor co = zeros({5, 6, 4}, t).transpose(0, 2), go = zeros({5, 6, 4}, t, kGpu).transpose(0, 2);
      backend::scatter_add(co, dim, index, s);
      backend::scatter_add(go, dim, gindex, to_device(s, kGpu));
      expect_bitwise(co, go, std::string("scatter_add ") + dtype_name(t) + " along dim " + std::to_string(dim));
    }
  }
}

TEST(CudaIndexing, IndexSelectAndIndexAddMatchTheCpuBitwise) {
  MOE_REQUIRE_DEVICE();
  const int64_t pre = 3, n = 8, post = 5, m = 13;
  const Tensor index = ids_of(cycle(m, n, 5), {m}), gindex = to_device(index, kGpu);
  for (DType t : {DType::f32, DType::bf16, DType::i64, DType::b8}) {
    const Tensor x = sample({pre, n, post}, 3).to(t);
    const Tensor c = empty({pre, m, post}, t), g = empty({pre, m, post}, t, kGpu);
    backend::index_select(x, index, pre, n, post, c);
    backend::index_select(to_device(x, kGpu), gindex, pre, n, post, g);
    expect_bitwise(c, g, std::string("index_select ") + dtype_name(t));
  }
  for (DType t : {DType::f32, DType::f64, DType::i32}) {
    const Tensor src = sample({pre, m, post}, 4).to(t);
    const Tensor c = zeros({pre, n, post}, t), g = zeros({pre, n, post}, t, kGpu);
    backend::index_add(c, index, pre, n, post, src);
    backend::index_add(g, gindex, pre, n, post, to_device(src, kGpu));
    expect_bitwise(c, g, std::string("index_add ") + dtype_name(t));
  }
}

TEST(CudaIndexing, OneHotAndBincountMatchTheCpu) {
  MOE_REQUIRE_DEVICE();
  const Tensor ids = ids_of(cycle(300, 7, 3), {300}), gids = to_device(ids, kGpu);
  const Tensor c = empty({300, 9}, DType::i64), g = empty({300, 9}, DType::i64, kGpu);
  backend::one_hot(ids, c);
  backend::one_hot(gids, g);
  expect_bitwise(c, g, "one_hot");
  const Tensor cb = zeros({10}, DType::i64), gb = zeros({10}, DType::i64, kGpu);  // bins 7..9 stay empty
  backend::bincount(ids, cb);
  backend::bincount(gids, gb);
  expect_bitwise(cb, gb, "bincount");
}

// The MoE permutation: empty experts, skewed loads, drops, one assignment,
// and sizes around the kernel's 2048-entry chunks.
TEST(CudaIndexing, ExpertOrderMatchesTheCpuBitwise) {
  MOE_REQUIRE_DEVICE();
  for (int64_t A : {int64_t(1), int64_t(6), int64_t(2047), int64_t(2049), int64_t(6 * 1024 + 3)})
    for (int64_t E : {int64_t(1), int64_t(8), int64_t(300)})
      for (bool drops : {false, true}) {
        const int64_t K = A % 3 == 0 ? 3 : 1;
        std::vector<double> ex(static_cast<size_t>(A));
        for (int64_t a = 0; a < A; ++a) ex[size_t(a)] = double((a * a * 7 + a / 5) % (E > 4 ? E / 2 + 1 : E));
        const Tensor experts = from_vector(ex, {A}, DType::f64).to(DType::i32);
        Tensor keep;
        int64_t kept = A;
        if (drops) {
          std::vector<double> k(static_cast<size_t>(A));
          kept = 0;
          for (int64_t a = 0; a < A; ++a) kept += int64_t(k[size_t(a)] = (a * 13) % 4 != 0);
          keep = from_vector(k, {A}, DType::f64).to(DType::b8);
        }
        const ExpertOrder c = expert_order(experts, keep, E, K, kept);
        const ExpertOrder g = expert_order(to_device(experts, kGpu), drops ? to_device(keep, kGpu) : Tensor(), E, K, kept);
        const std::string what = "expert_order A" + std::to_string(A) + " E" + std::to_string(E) + (drops ? " drops" : "");
        expect_bitwise(c.assignments, g.assignments, what + ": assignments");
        expect_bitwise(c.tokens, g.tokens, what + ": tokens");
      }
}

}  // namespace
}  // namespace moe
