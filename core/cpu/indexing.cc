#include "core/cpu/indexing.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <type_traits>
#include <vector>

#include "core/cpu/convert.h"
#include "core/cpu/loops.h"

namespace moe::cpu {

namespace {

// Calls f(offsets) once per line of `shape` along `dim` (the positions with
// p[dim] = 0), in parallel over lines. f walks the line itself, so all work
// of one line happens on one thread, in order.
template <size_t N, typename F>
void for_each_line(const Shape& shape, int64_t dim, const std::array<Shape, N>& strides, F&& f) {
  Shape s = shape;
  s.erase(s.begin() + dim);
  std::array<Shape, N> st;
  for (size_t k = 0; k < N; ++k) {
    st[k] = strides[k];
    st[k].erase(st[k].begin() + dim);
  }
  strided_loop<N>(s, st, [&](const std::array<int64_t, N>& off, int64_t n, const std::array<int64_t, N>& inner) {
    std::array<int64_t, N> o = off;
    for (int64_t j = 0; j < n; ++j) {
      f(o);
      for (size_t k = 0; k < N; ++k) o[k] += inner[k];
    }
  });
}

// Three-way comparison; NaN ranks above every number and equals NaN.
template <typename T>
int compare(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) {
    const bool na = std::isnan(a), nb = std::isnan(b);
    if (na || nb) return int(na) - int(nb);
  }
  return int(a > b) - int(a < b);
}

}  // namespace

int64_t find_out_of_range(const Tensor& idx, int64_t lo, int64_t hi) {
  const int64_t* p = idx.data<int64_t>();
  const int64_t n = idx.numel();
  for (int64_t i = 0; i < n; ++i)
    if (p[i] < lo || p[i] >= hi) return i;
  return -1;
}

void sorted_indices(const Tensor& x, int64_t rows, int64_t len, int64_t k, bool descending,
                    const Tensor& idx) {
  dtype_switch_native(x.dtype(), "sort", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* xd = x.data<T>();
    int64_t* out = idx.data<int64_t>();
    parallel_for(rows, std::max<int64_t>(1, 4096 / std::max<int64_t>(len, 1)), [&](int64_t b, int64_t e) {
      std::vector<int64_t> perm(static_cast<size_t>(len));
      for (int64_t r = b; r < e; ++r) {
        const T* v = xd + r * len;
        // Ties are broken by index, making this a strict total order: the
        // result is unique, i.e. the stable order, even from std::sort.
        auto before = [v, descending](int64_t i, int64_t j) {
          const int c = compare(v[i], v[j]);
          return c != 0 ? (descending ? c > 0 : c < 0) : i < j;
        };
        std::iota(perm.begin(), perm.end(), int64_t(0));
        if (k == len)
          std::sort(perm.begin(), perm.end(), before);
        else
          std::partial_sort(perm.begin(), perm.begin() + k, perm.end(), before);
        std::copy(perm.begin(), perm.begin() + k, out + r * k);
      }
    });
  });
}

void gather(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& out) {
  const int64_t len = index.shape()[size_t(dim)];
  const int64_t sx = x.strides()[size_t(dim)], si = index.strides()[size_t(dim)],
                so = out.strides()[size_t(dim)];
  const int64_t* id = index.data<int64_t>();
  dtype_switch_storage(x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* xd = x.data<T>();
    T* od = out.data<T>();
    for_each_line<3>(index.shape(), dim, {out.strides(), index.strides(), x.strides()},
                     [&](const std::array<int64_t, 3>& o) {
                       for (int64_t t = 0; t < len; ++t) od[o[0] + t * so] = xd[o[2] + id[o[1] + t * si] * sx];
                     });
  });
}

void scatter_add(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src) {
  const int64_t len = index.shape()[size_t(dim)];
  const int64_t so = out.strides()[size_t(dim)], si = index.strides()[size_t(dim)],
                ss = src.strides()[size_t(dim)];
  const int64_t* id = index.data<int64_t>();
  dtype_switch_native(out.dtype(), "scatter_add", [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (std::is_same_v<T, bool>) {
      MOE_CHECK(false, "scatter_add: cannot add bool tensors");
    } else {
      T* od = out.data<T>();
      const T* sd = src.data<T>();
      for_each_line<3>(index.shape(), dim, {out.strides(), index.strides(), src.strides()},
                       [&](const std::array<int64_t, 3>& o) {
                         for (int64_t t = 0; t < len; ++t) od[o[0] + id[o[1] + t * si] * so] += sd[o[2] + t * ss];
                       });
    }
  });
}

void index_select(const Tensor& x, const Tensor& index, int64_t pre, int64_t n, int64_t post,
                  const Tensor& out) {
  const int64_t m = index.numel();
  const size_t row = size_t(post) * dtype_size(x.dtype());
  const char* xd = static_cast<const char*>(x.raw_data());
  char* od = static_cast<char*>(out.raw_data());
  const int64_t* id = index.data<int64_t>();
  parallel_for(pre * m, std::max<int64_t>(1, 65536 / int64_t(std::max<size_t>(row, 1))), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const int64_t p = r / m, k = r % m;
      std::memcpy(od + size_t(r) * row, xd + size_t(p * n + id[k]) * row, row);
    }
  });
}

void index_add(const Tensor& out, const Tensor& index, int64_t pre, int64_t n, int64_t post,
               const Tensor& src) {
  const int64_t m = index.numel();
  const int64_t* id = index.data<int64_t>();
  dtype_switch_native(out.dtype(), "index_add", [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (std::is_same_v<T, bool>) {
      MOE_CHECK(false, "index_add: cannot add bool tensors");
    } else {
      T* od = out.data<T>();
      const T* sd = src.data<T>();
      // Split over the pre*post columns: two index entries that collide write
      // the same column, which one thread updates in k order.
      parallel_for(pre * post, std::max<int64_t>(1, 32768 / std::max<int64_t>(m, 1)), [&](int64_t b, int64_t e) {
        while (b < e) {
          const int64_t p = b / post, c0 = b % post, c1 = std::min(post, c0 + (e - b));
          for (int64_t k = 0; k < m; ++k) {
            T* dst = od + (p * n + id[k]) * post;
            const T* s = sd + (p * m + k) * post;
            for (int64_t c = c0; c < c1; ++c) dst[c] += s[c];
          }
          b += c1 - c0;
        }
      });
    }
  });
}

void one_hot(const Tensor& ids, const Tensor& out) {
  const int64_t c = out.shape().back();
  const int64_t* id = ids.data<int64_t>();
  int64_t* od = out.data<int64_t>();
  parallel_for(ids.numel(), std::max<int64_t>(1, 32768 / std::max<int64_t>(c, 1)), [&](int64_t b, int64_t e) {
    std::fill(od + b * c, od + e * c, int64_t(0));
    for (int64_t i = b; i < e; ++i) od[i * c + id[i]] = 1;
  });
}

void expert_order(const Tensor& experts, const Tensor& keep, int64_t E, int64_t K, const Tensor& assignments,
                  const Tensor& tokens) {
  const int64_t A = experts.numel();
  const int32_t* ex = experts.data<int32_t>();
  const bool* kp = keep.defined() ? keep.data<bool>() : nullptr;
  std::vector<int64_t> next(size_t(E) + 1, 0);
  for (int64_t a = 0; a < A; ++a) {
    MOE_CHECK(ex[a] >= 0 && ex[a] < E, "expert_order: assignment ", a, " has expert ", ex[a], ", outside [0, ", E, ")");
    if (!kp || kp[a]) ++next[size_t(ex[a]) + 1];
  }
  for (int64_t e = 0; e < E; ++e) next[size_t(e) + 1] += next[size_t(e)];
  MOE_CHECK(next[size_t(E)] == assignments.numel(), "expert_order: ", next[size_t(E)], " kept assignments, ",
            assignments.numel(), " slots");
  int64_t* pa = assignments.data<int64_t>();
  int64_t* pt = tokens.data<int64_t>();
  for (int64_t a = 0; a < A; ++a) {
    if (kp && !kp[a]) continue;
    const int64_t slot = next[size_t(ex[a])]++;
    pa[slot] = a;
    pt[slot] = a / K;
  }
}

void bincount(const Tensor& ids, const Tensor& out) {
  const int64_t* id = ids.data<int64_t>();
  int64_t* od = out.data<int64_t>();
  for (int64_t i = 0, n = ids.numel(); i < n; ++i) ++od[id[i]];
}

}  // namespace moe::cpu
