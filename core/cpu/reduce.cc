#include "core/cpu/reduce.h"

#include <cmath>
#include <limits>
#include <vector>

#include "core/dtype_switch.h"
#include "core/threading.h"

namespace moe::cpu {

namespace {
constexpr int64_t kBlock = 8192;

template <typename T>
double reduce_range(RowReduce op, const T* p, int64_t n) {
  if (op == RowReduce::sum) {
    double acc = 0;
    for (int64_t i = 0; i < n; ++i) acc += double(p[i]);
    return acc;
  }
  if (op == RowReduce::sum_squares) {
    double acc = 0;
    for (int64_t i = 0; i < n; ++i) acc += double(p[i]) * double(p[i]);
    return acc;
  }
  double m = -std::numeric_limits<double>::infinity();
  for (int64_t i = 0; i < n; ++i) {
    const double v = double(p[i]);
    if (v > m || std::isnan(v)) m = v;
    if (std::isnan(m)) break;
  }
  return m;
}

double combine(RowReduce op, double a, double b) {
  if (op != RowReduce::max) return a + b;
  return (std::isnan(a) || a >= b) ? a : b;
}
}  // namespace

void reduce_rows(RowReduce op, const Tensor& x, int64_t rows, int64_t len, const Tensor& out) {
  dtype_switch_float(x.dtype(), "reduce", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* px = x.data<T>();
    // sum_squares writes f64, the others x's dtype.
    auto put = [&](int64_t r, double v) {
      if (op == RowReduce::sum_squares)
        out.data<double>()[r] = v;
      else
        out.data<T>()[r] = T(v);
    };
    if (rows >= 2 * num_threads() || len <= kBlock) {
      parallel_for(rows, std::max<int64_t>(1, 16384 / std::max<int64_t>(len, 1)), [&](int64_t b, int64_t e) {
        for (int64_t r = b; r < e; ++r) {
          // Long rows are reduced block by block even here, so the result is
          // the same as the blocked path below.
          double acc = reduce_range(op, px + r * len, std::min(len, kBlock));
          for (int64_t s = kBlock; s < len; s += kBlock)
            acc = combine(op, acc, reduce_range(op, px + r * len + s, std::min(kBlock, len - s)));
          put(r, acc);
        }
      });
      return;
    }
    // Few long rows: reduce fixed blocks in parallel, combine them in order.
    const int64_t nblocks = (len + kBlock - 1) / kBlock;
    std::vector<double> partial(size_t(rows * nblocks));
    parallel_for(rows * nblocks, 1, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        const int64_t r = i / nblocks, s = (i % nblocks) * kBlock;
        partial[size_t(i)] = reduce_range(op, px + r * len + s, std::min(kBlock, len - s));
      }
    });
    for (int64_t r = 0; r < rows; ++r) {
      double acc = partial[size_t(r * nblocks)];
      for (int64_t k = 1; k < nblocks; ++k) acc = combine(op, acc, partial[size_t(r * nblocks + k)]);
      put(r, acc);
    }
  });
}

}  // namespace moe::cpu
