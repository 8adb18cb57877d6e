// core/kernels/sort_key.h: ascending keys order values exactly as
// sorted_indices' comparison does (NaN above every number and equal to any
// NaN, -0 equal to +0), descending keys reverse it, for every value type.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "core/kernels/sort_key.h"

namespace moe {
namespace {

// -1, 0, 1: the comparison sort's order of a and b.
template <typename T>
int order(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) {
    const bool na = a != a, nb = b != b;
    if (na || nb) return int(na) - int(nb);
  }
  return int(a > b) - int(a < b);
}

template <typename T>
void expect_keys_order(const std::vector<T>& v, const std::string& what) {
  for (size_t i = 0; i < v.size(); ++i)
    for (size_t j = 0; j < v.size(); ++j) {
      const int want = order(v[i], v[j]);
      const auto a = sort_key::of(v[i], false), b = sort_key::of(v[j], false);
      const int got = int(a > b) - int(a < b);
      ASSERT_EQ(got, want) << what << ": values " << double(v[i]) << " and " << double(v[j]);
      const auto da = sort_key::of(v[i], true), db = sort_key::of(v[j], true);
      ASSERT_EQ(int(da > db) - int(da < db), -want) << what << " descending: " << double(v[i]) << ", " << double(v[j]);
    }
}

template <typename T>
std::vector<T> floats() {
  using L = std::numeric_limits<T>;
  return {T(0), -T(0), T(1), T(-1), L::infinity(), -L::infinity(), L::quiet_NaN(), -L::quiet_NaN(),
          L::denorm_min(), -L::denorm_min(), L::min(), -L::min(), L::max(), L::lowest(), T(0.5), T(-0.5),
          L::signaling_NaN(), T(3.25), T(-3.25)};
}

template <typename T>
std::vector<T> ints() {
  using L = std::numeric_limits<T>;
  return {T(0), T(1), T(-1), L::max(), L::min(), T(L::max() - 1), T(L::min() + 1), T(1234), T(-1234)};
}

TEST(SortKey, OrdersEveryValueTypeAsTheComparisonSort) {
  expect_keys_order(floats<float>(), "f32");
  expect_keys_order(floats<double>(), "f64");
  expect_keys_order(ints<int32_t>(), "i32");
  expect_keys_order(ints<int64_t>(), "i64");
  expect_keys_order(std::vector<bool>{false, true, true, false}, "b8");
}

}  // namespace
}  // namespace moe
