#pragma once
// Vectorisable f32 exp (plain arithmetic and bit moves: loops that call it
// vectorise, which std::exp does not without -ffast-math). Shared by the
// CPU kernels and, being MOE_HD, by the CUDA ones.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "core/hd.h"

namespace moe::math {

MOE_HD uint32_t float_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}
MOE_HD float bits_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

// exp of the f32 row kernels, in plain arithmetic so that loops calling it
// vectorise (std::exp does not without -ffast-math). Cephes' expf: within
// 1 ulp of the exact value; results below 2^-126 (x < -87.3) flush to 0, so
// -inf gives 0; NaN stays NaN.
MOE_HD_INLINE float fast_exp(float x) {
  const float xc = x < -87.3f ? -87.3f : (x > 88.75f ? 88.75f : x);  // NaN passes
  // Adding 1.5 * 2^23 rounds x / ln2 to the integer k held in the low bits.
  const float t = xc * 1.44269504088896341f + 12582912.0f;
  const float k = t - 12582912.0f;
  const float r = (xc - k * 0.693359375f) - k * -2.12194440e-4f;  // x - k ln2, |r| <= ln2 / 2
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * (r * r) + r + 1.0f;
  // 2^k as two factors, so k = 128 (results just below FLT_MAX) fits the exponent.
  const int32_t ki = int32_t(float_bits(t) - 0x4B400000u);
  const int32_t k1 = ki >> 1, k2 = ki - k1;
  const float y = p * bits_float(uint32_t(k1 + 127) << 23) * bits_float(uint32_t(k2 + 127) << 23);
  return x < -87.3f ? 0.0f : y;
}
// exp in T: fast_exp for f32, std::exp otherwise (f64 stays exact for the
// gradient checks).
template <typename T>
MOE_HD_INLINE T exp_t(T x) {
  if constexpr (std::is_same_v<T, float>) {
    return fast_exp(x);
  } else {
    return std::exp(x);
  }
}

}  // namespace moe::math
