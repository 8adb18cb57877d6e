#include "core/cpu/copy.h"

#include <algorithm>
#include <cstring>

#include "core/cpu/convert.h"
#include "core/cpu/loops.h"
#include "core/random.h"

namespace moe::cpu {

void copy_strided(const Tensor& dst, const Tensor& src, bool saturate) {
  const Shape st_src = broadcast_strides(src, dst.shape());
  if (dst.dtype() == src.dtype() && dst.is_contiguous() && src.is_contiguous() &&
      src.shape() == dst.shape()) {
    const size_t bytes = size_t(dst.numel()) * dtype_size(dst.dtype());
    char* d = static_cast<char*>(dst.raw_data());
    const char* s = static_cast<const char*>(src.raw_data());
    parallel_for(int64_t(bytes), 1 << 20, [&](int64_t b, int64_t e) { std::memcpy(d + b, s + b, size_t(e - b)); });
    return;
  }
  dtype_switch_storage(src.dtype(), [&](auto ts) {
    using S = typename decltype(ts)::type;
    dtype_switch_storage(dst.dtype(), [&](auto td) {
      using D = typename decltype(td)::type;
      const S* s = src.data<S>();
      D* d = dst.data<D>();
      strided_loop<2>(dst.shape(), {dst.strides(), st_src},
                      [&](const std::array<int64_t, 2>& off, int64_t n, const std::array<int64_t, 2>& st) {
                        D* rd = d + off[0];
                        const S* rs = s + off[1];
                        if (st[0] == 1 && st[1] == 1) {  // contiguous rows: a loop that vectorises
                          for (int64_t j = 0; j < n; ++j) rd[j] = convert<S, D>(rs[j], saturate);
                        } else {
                          for (int64_t j = 0; j < n; ++j) rd[j * st[0]] = convert<S, D>(rs[j * st[1]], saturate);
                        }
                      });
    });
  });
}

void fill(const Tensor& dst, double value) {
  dtype_switch_storage(dst.dtype(), [&](auto td) {
    using D = typename decltype(td)::type;
    const D v = store<D>(value, false);
    D* d = dst.data<D>();
    if (dst.is_contiguous()) {
      parallel_for(dst.numel(), 1 << 16, [&](int64_t b, int64_t e) { std::fill(d + b, d + e, v); });
      return;
    }
    strided_loop<1>(dst.shape(), {dst.strides()},
                    [&](const std::array<int64_t, 1>& off, int64_t n, const std::array<int64_t, 1>& st) {
                      for (int64_t j = 0; j < n; ++j) d[off[0] + j * st[0]] = v;
                    });
  });
}

template <typename Gen>
static void fill_random(const Tensor& dst, Gen gen) {
  MOE_CHECK(dst.is_contiguous(), "random fill needs a contiguous tensor");
  dtype_switch_storage(dst.dtype(), [&](auto td) {
    using D = typename decltype(td)::type;
    D* d = dst.data<D>();
    parallel_for(dst.numel(), 4096, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) d[i] = store<D>(gen(uint64_t(i)), false);
    });
  });
}

void fill_uniform(const Tensor& dst, uint64_t seed, uint64_t stream) {
  fill_random(dst, [&](uint64_t i) { return double(philox::uniform(seed, stream, i)); });
}

void fill_normal(const Tensor& dst, uint64_t seed, uint64_t stream) {
  fill_random(dst, [&](uint64_t i) { return philox::normal(seed, stream, i); });
}

}  // namespace moe::cpu
