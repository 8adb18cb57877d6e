#pragma once
// Sort keys: a value's bits mapped to an unsigned integer whose ascending
// order is sorted_indices' order of the values (NaN above every number, NaNs
// equal, -0 equal to +0), complemented for a descending sort. A stable sort
// of (key, index) pairs then gives exactly the comparison sort's result, so
// a radix sort (CUB on a GPU) and the CPU's comparison sort agree bit for
// bit.
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "core/hd.h"

namespace moe::sort_key {

// The key type of a value type: 32 bits for 1- to 4-byte values, 64 for 8.
template <typename T>
using Key = std::conditional_t<sizeof(T) == 8, uint64_t, uint32_t>;

template <typename T>
MOE_HD Key<T> of(T v, bool descending) {
  using K = Key<T>;
  constexpr K top = K(1) << (8 * sizeof(K) - 1);
  K k;
  if constexpr (std::is_floating_point_v<T>) {
    if (v != v) {
      k = ~K(0);
    } else {
      if (v == T(0)) v = T(0);  // -0 sorts with +0
      K u;
      memcpy(&u, &v, sizeof(K));
      k = (u & top) ? ~u : (u | top);
    }
  } else if constexpr (std::is_same_v<T, bool>) {
    k = v ? 1 : 0;
  } else {
    k = K(static_cast<std::make_unsigned_t<T>>(v)) ^ top;
  }
  return descending ? ~k : k;
}

}  // namespace moe::sort_key
