#pragma once
// Vectorisable f32 exp shared by the CPU row kernels (softmax, attention).
#include <bit>
#include <cstdint>

namespace moe::cpu {

// exp of the f32 row kernels, in plain arithmetic so that loops calling it
// vectorise (std::exp does not without -ffast-math). Cephes' expf: within
// 1 ulp of the exact value; results below 2^-126 (x < -87.3) flush to 0, so
// -inf gives 0; NaN stays NaN.
inline float fast_exp(float x) {
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
  const int32_t ki = int32_t(std::bit_cast<uint32_t>(t) - 0x4B400000u);
  const int32_t k1 = ki >> 1, k2 = ki - k1;
  const float y = p * std::bit_cast<float>(uint32_t(k1 + 127) << 23) * std::bit_cast<float>(uint32_t(k2 + 127) << 23);
  return x < -87.3f ? 0.0f : y;
}
}  // namespace moe::cpu
