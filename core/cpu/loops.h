#pragma once
// Strided N-operand iteration for CPU kernels. The outer dims are walked with
// an odometer; the innermost dim is handed to the caller as (offsets,
// length, strides) so its loop can be tight. Work is split over the outer
// positions, each output written by exactly one thread.
#include <array>
#include <cstdint>

#include "core/threading.h"
#include "core/tensor.h"

namespace moe::cpu {

// f(std::array<int64_t,N> offsets, int64_t inner_len, std::array<int64_t,N> inner_strides)
template <size_t N, typename F>
void strided_loop(const Shape& shape, const std::array<Shape, N>& strides, F&& f) {
  const int64_t nd = int64_t(shape.size());
  if (shape_numel(shape) == 0) return;
  if (nd == 0) {
    std::array<int64_t, N> off{}, st{};
    f(off, int64_t(1), st);
    return;
  }
  const int64_t inner = shape[nd - 1];
  std::array<int64_t, N> inner_st;
  for (size_t k = 0; k < N; ++k) inner_st[k] = strides[k][nd - 1];
  const int64_t outer = shape_numel(shape) / inner;
  const int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(inner, 1));
  parallel_for(outer, grain, [&](int64_t b, int64_t e) {
    // multi-index of outer position b over dims [0, nd-1)
    std::array<int64_t, N> off{};
    std::vector<int64_t> idx(size_t(nd > 1 ? nd - 1 : 0), 0);
    int64_t rem = b;
    for (int64_t d = nd - 2; d >= 0; --d) {
      idx[d] = rem % shape[d];
      rem /= shape[d];
      for (size_t k = 0; k < N; ++k) off[k] += idx[d] * strides[k][d];
    }
    for (int64_t p = b; p < e; ++p) {
      f(off, inner, inner_st);
      for (int64_t d = nd - 2; d >= 0; --d) {  // odometer increment
        ++idx[d];
        for (size_t k = 0; k < N; ++k) off[k] += strides[k][d];
        if (idx[d] < shape[d]) break;
        for (size_t k = 0; k < N; ++k) off[k] -= strides[k][d] * shape[d];
        idx[d] = 0;
      }
    }
  });
}

}  // namespace moe::cpu
