#pragma once
// Bit-exact conversions between f32 and the 16- and 8-bit float formats.
// f32 -> narrow rounds to nearest, ties to even. Formats:
//   bf16   1.8.7  bias 127, inf/NaN as IEEE
//   f16    1.5.10 bias 15,  inf/NaN as IEEE
//   e5m2   1.5.2  bias 15,  inf/NaN as IEEE, max finite 57344
//   e4m3fn 1.4.3  bias 7,   no inf, NaN = S.1111.111, max finite 448 (OCP FN)
// "Saturating" casts clamp out-of-range values (and +-inf) to +-max finite;
// non-saturating casts give inf (or NaN for e4m3fn, which has no inf).
// NaN always converts to NaN.
#include <cstdint>
#include <cstring>

#include "core/hd.h"

namespace moe::fp {

MOE_HD uint32_t f32_bits(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(f);
#else
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
#endif
}
MOE_HD float f32_from_bits(uint32_t u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  float f;
  std::memcpy(&f, &u, 4);
  return f;
#endif
}

// Description of a small float format with EB exponent bits and MB mantissa bits.
struct FloatFormat {
  int ebits, mbits, bias;
  bool ieee_inf;       // true: exponent all-ones is inf/NaN; false: OCP "FN" (only S.1..1.1..1 is NaN)
  uint32_t max_code;   // largest finite magnitude code
  uint32_t nan_code;   // canonical NaN (magnitude bits)
  uint32_t inf_code;   // infinity magnitude (ieee_inf only)
};

// The formats are returned by functions, not held in namespace-scope constexpr
// variables: CUDA device code may not reference a host variable of class type.
MOE_HD constexpr FloatFormat bf16_format() { return {8, 7, 127, true, 0x7F7F, 0x7FC0, 0x7F80}; }
MOE_HD constexpr FloatFormat f16_format() { return {5, 10, 15, true, 0x7BFF, 0x7E00, 0x7C00}; }
MOE_HD constexpr FloatFormat e5m2_format() { return {5, 2, 15, true, 0x7B, 0x7E, 0x7C}; }
MOE_HD constexpr FloatFormat e4m3_format() { return {4, 3, 7, false, 0x7E, 0x7F, 0}; }

// Encodes f into the format; returns the code (sign at bit ebits+mbits).
MOE_HD uint32_t encode(float f, const FloatFormat& fmt, bool saturate) {
  const uint32_t u = f32_bits(f);
  const uint32_t sign = (u >> 31) << (fmt.ebits + fmt.mbits);
  const int e32 = int((u >> 23) & 0xFF);
  const uint32_t m32 = u & 0x7FFFFF;
  if (e32 == 0xFF) {  // inf or NaN
    if (m32 != 0) return sign | fmt.nan_code;
    if (saturate) return sign | fmt.max_code;
    return sign | (fmt.ieee_inf ? fmt.inf_code : fmt.nan_code);
  }
  if (e32 == 0 && m32 == 0) return sign;
  // value = m24 * 2^(e - 23) with e the unbiased exponent (subnormal f32: e = -126).
  const int e = (e32 == 0) ? -126 : e32 - 127;
  const uint32_t m24 = (e32 == 0) ? m32 : (m32 | 0x800000);
  const int min_normal_exp = 1 - fmt.bias;
  // Number of low bits of m24 dropped. For a normal target the kept mantissa has
  // mbits bits after the leading one; subnormal targets drop (min_normal - e) more.
  int shift = 23 - fmt.mbits;
  uint32_t exp_field = 0;
  uint32_t mant = m24;
  if (e >= min_normal_exp) {
    exp_field = uint32_t(e + fmt.bias);
    mant = m24 & 0x7FFFFF;  // drop the implicit one; the exponent field carries it
    if (e32 == 0) exp_field = 0;  // bf16 only: f32 subnormals map onto bf16 subnormals
  } else {
    shift += min_normal_exp - e;
  }
  uint32_t q;
  if (shift > 31) {
    q = 0;  // far below half of the smallest subnormal
  } else if (shift <= 0) {
    q = mant << (-shift);
  } else {
    q = mant >> shift;
    const uint32_t rem = mant & ((1u << shift) - 1);
    const uint32_t half = 1u << (shift - 1);
    if (rem > half || (rem == half && (q & 1))) ++q;  // ties to even
  }
  // Mantissa overflow from rounding carries into the exponent field naturally.
  const uint64_t code = (uint64_t(exp_field) << fmt.mbits) + q;
  if (code > fmt.max_code) {
    if (saturate) return sign | fmt.max_code;
    return sign | (fmt.ieee_inf ? fmt.inf_code : fmt.nan_code);
  }
  return sign | uint32_t(code);
}

MOE_HD float decode(uint32_t code, const FloatFormat& fmt) {
  const uint32_t sign = (code >> (fmt.ebits + fmt.mbits)) & 1;
  const uint32_t mag = code & ((1u << (fmt.ebits + fmt.mbits)) - 1);
  const uint32_t exp_all = (1u << fmt.ebits) - 1;
  const uint32_t ef = mag >> fmt.mbits;
  const uint32_t mf = mag & ((1u << fmt.mbits) - 1);
  uint32_t out;
  if (fmt.ieee_inf ? (ef == exp_all) : (mag == fmt.nan_code)) {
    out = (mf == 0 && fmt.ieee_inf) ? 0x7F800000u : 0x7FC00000u;
  } else if (ef == 0) {
    // subnormal: mf * 2^(1 - bias - mbits); exact in f32 for all our formats
    float v = float(mf);
    int p = 1 - fmt.bias - fmt.mbits;
    // scale by 2^p exactly; 2^p itself may be an f32 subnormal, so step down first
    while (p < -100) { v *= 0x1p-100f; p += 100; }
    out = f32_bits(v * f32_from_bits(uint32_t(p + 127) << 23));
  } else {
    out = (uint32_t(int(ef) - fmt.bias + 127) << 23) | (mf << (23 - fmt.mbits));
  }
  return f32_from_bits(out | (sign << 31));
}

MOE_HD uint16_t f32_to_bf16(float f) { return uint16_t(encode(f, bf16_format(), false)); }
MOE_HD float bf16_to_f32(uint16_t b) { return f32_from_bits(uint32_t(b) << 16); }
MOE_HD uint16_t f32_to_f16(float f) { return uint16_t(encode(f, f16_format(), false)); }
MOE_HD float f16_to_f32(uint16_t h) { return decode(h, f16_format()); }
MOE_HD uint8_t f32_to_e4m3(float f, bool saturate) { return uint8_t(encode(f, e4m3_format(), saturate)); }
MOE_HD float e4m3_to_f32(uint8_t b) { return decode(b, e4m3_format()); }
MOE_HD uint8_t f32_to_e5m2(float f, bool saturate) { return uint8_t(encode(f, e5m2_format(), saturate)); }
MOE_HD float e5m2_to_f32(uint8_t b) { return decode(b, e5m2_format()); }

}  // namespace moe::fp
