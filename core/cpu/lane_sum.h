#pragma once
// Order-fixed f64 accumulation shared by the CPU row kernels.
#include <cstdint>

namespace moe::cpu {

// f64 sum in a fixed order over 8 interleaved lanes (element j to lane j % 8),
// so it vectorises and depends only on the values. Chunked adds give the same
// sum when every chunk but the last has a multiple of 8 elements.
struct LaneSum {
  double a[8] = {};
  template <typename T>
  void add(const T* v, int64_t n) {
    int64_t j = 0;
    for (; j + 8 <= n; j += 8)
      for (int k = 0; k < 8; ++k) a[k] += double(v[j + k]);
    for (int k = 0; j < n; ++j, ++k) a[k] += double(v[j]);
  }
  template <typename T>
  void add_products(const T* u, const T* v, int64_t n) {
    int64_t j = 0;
    for (; j + 8 <= n; j += 8)
      for (int k = 0; k < 8; ++k) a[k] += double(u[j + k]) * double(v[j + k]);
    for (int k = 0; j < n; ++j, ++k) a[k] += double(u[j]) * double(v[j]);
  }
  double total() const { return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7])); }
};

}  // namespace moe::cpu
