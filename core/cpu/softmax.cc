#include "core/cpu/softmax.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include "core/kernels/fast_exp.h"
#include "core/cpu/lane_sum.h"
#include "core/dtype_switch.h"
#include "core/threading.h"

namespace moe::cpu {

namespace {

// Calls f(r) for every row; rows are independent, so the split over threads
// never changes a result.
template <typename F>
void for_rows(int64_t rows, int64_t n, F&& f) {
  parallel_for(rows, std::max<int64_t>(1, 4096 / std::max<int64_t>(n, 1)), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) f(r);
  });
}


// Max of a row with NaNs skipped (-inf/lowest if there is nothing else). Eight
// lanes let the compiler vectorise; max is exact, so the split is harmless.
template <typename T>
T row_max(const T* x, int64_t n) {
  T lane[8];
  for (T& l : lane) l = -std::numeric_limits<T>::infinity();
  if constexpr (!std::numeric_limits<T>::has_infinity)
    for (T& l : lane) l = std::numeric_limits<T>::lowest();
  int64_t j = 0;
  for (; j + 8 <= n; j += 8)
    for (int k = 0; k < 8; ++k) lane[k] = x[j + k] > lane[k] ? x[j + k] : lane[k];
  for (int k = 0; j < n; ++j, ++k) lane[k] = x[j] > lane[k] ? x[j] : lane[k];
  T m = lane[0];
  for (int k = 1; k < 8; ++k) m = lane[k] > m ? lane[k] : m;
  return m;
}

// softmax: y = exp(x - m) / sum; log_softmax: y = (x - m) - log(sum).
template <typename T>
void softmax_row(const T* x, T* y, int64_t n, bool log) {
  const T m = row_max(x, n);
  for (int64_t j = 0; j < n; ++j) y[j] = math::exp_t(x[j] - m);
  LaneSum s;
  s.add(y, n);
  if (log) {
    const double ls = std::log(s.total());
    for (int64_t j = 0; j < n; ++j) y[j] = T(double(x[j] - m) - ls);
  } else {
    const double inv = 1.0 / s.total();
    for (int64_t j = 0; j < n; ++j) y[j] = T(double(y[j]) * inv);
  }
}

template <typename T>
void softmax_row_backward(const T* y, const T* g, T* gx, int64_t n, bool log) {
  LaneSum s;
  if (log) {
    s.add(g, n);
    const double sg = s.total();
    const T sgt = T(sg);  // T arithmetic: mixing in f64 would stop fast_exp vectorising
    for (int64_t j = 0; j < n; ++j) gx[j] = g[j] - math::exp_t(y[j]) * sgt;
  } else {
    s.add_products(g, y, n);
    const double dot = s.total();
    for (int64_t j = 0; j < n; ++j) gx[j] = T(double(y[j]) * (double(g[j]) - dot));
  }
}

// log(sum(exp(x - m))) of a row with max m, without writing the exps out.
template <typename T>
double log_sum_exp_shifted(const T* x, T m, int64_t n) {
  constexpr int64_t kChunk = 512;  // a multiple of 8 (see LaneSum)
  T buf[kChunk];
  LaneSum s;
  for (int64_t c = 0; c < n; c += kChunk) {
    const int64_t w = std::min(kChunk, n - c);
    for (int64_t j = 0; j < w; ++j) buf[j] = math::exp_t(x[c + j] - m);
    s.add(buf, w);
  }
  return std::log(s.total());
}

template <typename T>
bool is_nan(T v) {
  if constexpr (std::is_floating_point_v<T>) return std::isnan(v);
  return false;
}

// Max of a contiguous row and its first index; the first NaN wins.
template <typename T>
void row_argmax(const T* x, int64_t n, T& val, int64_t& idx) {
  if constexpr (std::is_floating_point_v<T>) {
    bool nan = false;
    for (int64_t j = 0; j < n; ++j) nan |= x[j] != x[j];
    if (nan) {
      for (idx = 0; !std::isnan(x[idx]);) ++idx;
      val = x[idx];
      return;
    }
  }
  val = row_max(x, n);
  for (idx = 0; x[idx] != val;) ++idx;
}

// [outer, n, inner] kernels work on blocks of up to kCols adjacent columns
// (inner positions) of one outer slice, so the innermost loop is contiguous.
constexpr int64_t kCols = 64;

// Calls f(in_offset, out_offset, width) per block: in_offset into the
// [outer, n, inner] tensor, out_offset into an [outer, inner] one.
template <typename F>
void for_column_blocks(int64_t outer, int64_t n, int64_t inner, F&& f) {
  const int64_t per = (inner + kCols - 1) / kCols;
  const int64_t work = std::max<int64_t>(1, n * std::min(inner, kCols));
  parallel_for(outer * per, std::max<int64_t>(1, 32768 / work), [&](int64_t b, int64_t e) {
    for (int64_t u = b; u < e; ++u) {
      const int64_t o = u / per, i0 = (u % per) * kCols;
      f(o * n * inner + i0, o * inner + i0, std::min(kCols, inner - i0));
    }
  });
}

}  // namespace

void softmax_rows(const Tensor& x, const Tensor& y, int64_t rows, int64_t n, bool log) {
  if (n == 0) return;
  dtype_switch_float(x.dtype(), "softmax", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* px = x.data<T>();
    T* py = y.data<T>();
    for_rows(rows, n, [&](int64_t r) { softmax_row(px + r * n, py + r * n, n, log); });
  });
}

void softmax_rows_backward(const Tensor& y, const Tensor& g, const Tensor& gx, int64_t rows, int64_t n,
                           bool log) {
  if (n == 0) return;
  dtype_switch_float(y.dtype(), "softmax_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* py = y.data<T>();
    const T* pg = g.data<T>();
    T* po = gx.data<T>();
    for_rows(rows, n, [&](int64_t r) { softmax_row_backward(py + r * n, pg + r * n, po + r * n, n, log); });
  });
}

int64_t first_bad_target(const Tensor& target, int64_t C, int64_t ignore) {
  return dtype_switch_index(target.dtype(), "cross_entropy", [&](auto tag) -> int64_t {
    using I = typename decltype(tag)::type;
    const I* pt = target.data<I>();
    for (int64_t r = 0, n = target.numel(); r < n; ++r) {
      const int64_t t = pt[r];
      if (t != ignore && (t < 0 || t >= C)) return r;
    }
    return -1;
  });
}

CrossEntropyStats cross_entropy_rows(const Tensor& x, const Tensor& target, int64_t ignore, const Tensor& loss,
                                     const Tensor& stats, int64_t rows, int64_t C) {
  std::vector<double> row_loss(size_t(rows), 0.0);
  dtype_switch_float(x.dtype(), "cross_entropy", [&](auto tag) {
    using T = typename decltype(tag)::type;
    dtype_switch_index(target.dtype(), "cross_entropy", [&](auto itag) {
      using I = typename decltype(itag)::type;
      const T* px = x.data<T>();
      const I* pt = target.data<I>();
      T* pl = loss.data<T>();
      T* ps = stats.data<T>();
      for_rows(rows, C, [&](int64_t r) {
        const int64_t t = pt[r];
        if (t == ignore) {
          pl[r] = ps[2 * r] = ps[2 * r + 1] = T(0);
          return;
        }
        const T* xr = px + r * C;
        const T m = row_max(xr, C);
        const double ls = log_sum_exp_shifted(xr, m, C);
        row_loss[size_t(r)] = (double(m) - double(xr[t])) + ls;
        pl[r] = T(row_loss[size_t(r)]);
        ps[2 * r] = m;
        ps[2 * r + 1] = T(ls);
      });
    });
  });
  CrossEntropyStats st;
  dtype_switch_index(target.dtype(), "cross_entropy", [&](auto itag) {
    const auto* pt = target.data<typename decltype(itag)::type>();
    for (int64_t r = 0; r < rows; ++r) {
      st.total += row_loss[size_t(r)];
      st.count += int64_t(pt[r]) != ignore;
    }
  });
  return st;
}

void cross_entropy_rows_backward(const Tensor& x, const Tensor& target, const Tensor& stats, const Tensor& g,
                                 double scale, int64_t ignore, const Tensor& gx, int64_t rows, int64_t C) {
  dtype_switch_float(x.dtype(), "cross_entropy_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    dtype_switch_index(target.dtype(), "cross_entropy_backward", [&](auto itag) {
      using I = typename decltype(itag)::type;
      const T* px = x.data<T>();
      const I* pt = target.data<I>();
      const T* ps = stats.data<T>();
      const T* pg = g.data<T>();
      const bool per_row = g.numel() != 1;
      T* po = gx.data<T>();
      for_rows(rows, C, [&](int64_t r) {
        const int64_t t = pt[r];
        T* o = po + r * C;
        if (t == ignore) {
          std::fill(o, o + C, T(0));
          return;
        }
        const T* xr = px + r * C;
        const T m = ps[2 * r], ls = ps[2 * r + 1];
        const double gr = double(pg[per_row ? r : 0]) * scale;
        const T grt = T(gr);  // T arithmetic, so that the loop vectorises
        // softmax = exp((x - m) - ls): m and ls apart keep it accurate for big logits.
        for (int64_t j = 0; j < C; ++j) o[j] = math::exp_t((xr[j] - m) - ls) * grt;
        o[t] = T((double(math::exp_t((xr[t] - m) - ls)) - 1.0) * gr);
      });
    });
  });
}

void max_dim(const Tensor& x, const Tensor& values, const Tensor& indices, int64_t outer, int64_t n,
             int64_t inner) {
  dtype_switch_numeric(x.dtype(), "max", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* px = x.data<T>();
    T* pv = values.data<T>();
    int64_t* pi = indices.data<int64_t>();
    if (inner == 1) {
      for_rows(outer, n, [&](int64_t r) { row_argmax(px + r * n, n, pv[r], pi[r]); });
      return;
    }
    for_column_blocks(outer, n, inner, [&](int64_t in, int64_t out, int64_t w) {
      T* val = pv + out;
      int64_t* idx = pi + out;
      for (int64_t i = 0; i < w; ++i) val[i] = px[in + i], idx[i] = 0;
      for (int64_t c = 1; c < n; ++c) {
        const T* p = px + in + c * inner;
        for (int64_t i = 0; i < w; ++i)
          // Strictly greater keeps the first maximum; a NaN replaces any number.
          if (!(p[i] <= val[i]) && !is_nan(val[i])) val[i] = p[i], idx[i] = c;
      }
    });
  });
}

void max_dim_backward(const Tensor& g, const Tensor& indices, const Tensor& gx, int64_t outer, int64_t n,
                      int64_t inner) {
  dtype_switch_float(g.dtype(), "max_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* pg = g.data<T>();
    const int64_t* pi = indices.data<int64_t>();
    T* po = gx.data<T>();
    for_column_blocks(outer, n, inner, [&](int64_t in, int64_t out, int64_t w) {
      for (int64_t c = 0; c < n; ++c)
        for (int64_t i = 0; i < w; ++i) po[in + c * inner + i] = pi[out + i] == c ? pg[out + i] : T(0);
    });
  });
}

void cumsum_dim(const Tensor& x, const Tensor& y, int64_t outer, int64_t n, int64_t inner, bool reverse) {
  dtype_switch_numeric(x.dtype(), "cumsum", [&](auto tag) {
    using T = typename decltype(tag)::type;
    using Acc = std::conditional_t<std::is_floating_point_v<T>, double, int64_t>;
    const T* px = x.data<T>();
    T* py = y.data<T>();
    if (inner == 1) {  // a scalar accumulator: no round trip through memory
      for_rows(outer, n, [&](int64_t r) {
        const T* xr = px + r * n;
        T* yr = py + r * n;
        Acc acc = 0;
        for (int64_t k = 0; k < n; ++k) {
          const int64_t j = reverse ? n - 1 - k : k;
          acc += Acc(xr[j]);
          yr[j] = T(acc);
        }
      });
      return;
    }
    for_column_blocks(outer, n, inner, [&](int64_t in, int64_t, int64_t w) {
      Acc acc[kCols] = {};
      for (int64_t k = 0; k < n; ++k) {
        const int64_t off = in + (reverse ? n - 1 - k : k) * inner;
        for (int64_t i = 0; i < w; ++i) {
          acc[i] += Acc(px[off + i]);
          py[off + i] = T(acc[i]);
        }
      }
    });
  });
}

}  // namespace moe::cpu
