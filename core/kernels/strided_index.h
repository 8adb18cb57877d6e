#pragma once
// Element offsets of N strided operands at a linear position of an output
// shape (row-major): the index math of one-thread-per-element kernels.
#include <cstdint>

#include "core/hd.h"

namespace moe::math {

constexpr int kMaxIndexDims = 8;

template <int N>
struct StridedIndex {
  int ndim = 0;
  int64_t size[kMaxIndexDims] = {};
  int64_t stride[N][kMaxIndexDims] = {};

  // Unrolled over every possible dim, so that no member is indexed by a
  // run-time value (a kernel would copy its parameter to local memory).
  MOE_HD void offsets(int64_t linear, int64_t (&off)[N]) const {
    MOE_UNROLL
    for (int k = 0; k < N; ++k) off[k] = 0;
    MOE_UNROLL
    for (int d = kMaxIndexDims - 1; d >= 0; --d) {
      if (d < ndim) {
        const int64_t q = linear / size[d], r = linear - q * size[d];
        MOE_UNROLL
        for (int k = 0; k < N; ++k) off[k] += r * stride[k][d];
        linear = q;
      }
    }
  }
};

}  // namespace moe::math
