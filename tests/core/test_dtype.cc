// Bit-exact checks of the f32 <-> bf16 / f16 / e4m3fn / e5m2 conversions
// (core/dtype_convert.h) and of cast() on tensors.
//
// Every expected value below comes from the format definitions, not from the
// code under test: a reference decoder built from (ebits, mbits, bias) with
// std::ldexp, exhaustive loops over every code, and hand-derived bit patterns
// (derivations in the comments). Value notation: E = exponent field,
// M = mantissa field; normal = 2^(E-bias) * (1 + M/2^mbits),
// subnormal (E = 0) = M * 2^(1-bias-mbits).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "core/dtype_convert.h"
#include "core/ops.h"
#include "tests/core/float_bits.h"

namespace moe {
namespace {

using test::bits;
using test::from_bits;
using test::kInf;
using test::kNaN;
float p2(int e) { return std::ldexp(1.0f, e); }  // exact 2^e

// A narrow format described from its definition, plus the functions under test.
struct Fmt {
  const char* name;
  int ebits, mbits, bias;
  bool fn;  // OCP "FN": no inf, only S.1..1.1..1 is NaN
  uint32_t (*enc)(float, bool saturate);
  float (*dec)(uint32_t);
  bool has_saturating;

  int nbits() const { return 1 + ebits + mbits; }
  uint32_t ncodes() const { return 1u << nbits(); }
  uint32_t sign_bit() const { return 1u << (ebits + mbits); }
  uint32_t exp_all() const { return (1u << ebits) - 1; }
  uint32_t man_all() const { return (1u << mbits) - 1; }
  bool is_nan(uint32_t c) const {
    const uint32_t e = (c >> mbits) & exp_all(), m = c & man_all();
    return fn ? (e == exp_all() && m == man_all()) : (e == exp_all() && m != 0);
  }
  bool is_inf(uint32_t c) const {
    return !fn && ((c >> mbits) & exp_all()) == exp_all() && (c & man_all()) == 0;
  }
  // Largest finite magnitude code: all-ones exponent minus one (IEEE), or
  // all-ones exponent with mantissa all-ones minus one (FN).
  uint32_t max_code() const {
    return fn ? ((exp_all() << mbits) | (man_all() - 1)) : (((exp_all() - 1) << mbits) | man_all());
  }
  // Reference decoder, straight from the definition (double is exact here).
  double ref(uint32_t c) const {
    const bool neg = (c & sign_bit()) != 0;
    const uint32_t e = (c >> mbits) & exp_all(), m = c & man_all();
    double v;
    if (is_nan(c)) return std::numeric_limits<double>::quiet_NaN();
    if (is_inf(c)) v = std::numeric_limits<double>::infinity();
    else if (e == 0) v = std::ldexp(double(m), 1 - bias - mbits);
    else v = std::ldexp(double((1u << mbits) + m), int(e) - bias - mbits);
    return neg ? -v : v;
  }
};

const Fmt kBF16{"bf16", 8, 7, 127, false, [](float f, bool) -> uint32_t { return fp::f32_to_bf16(f); },
                [](uint32_t c) { return fp::bf16_to_f32(uint16_t(c)); }, false};
const Fmt kF16{"f16", 5, 10, 15, false, [](float f, bool) -> uint32_t { return fp::f32_to_f16(f); },
               [](uint32_t c) { return fp::f16_to_f32(uint16_t(c)); }, false};
const Fmt kE4M3{"e4m3", 4, 3, 7, true, [](float f, bool s) -> uint32_t { return fp::f32_to_e4m3(f, s); },
                [](uint32_t c) { return fp::e4m3_to_f32(uint8_t(c)); }, true};
const Fmt kE5M2{"e5m2", 5, 2, 15, false, [](float f, bool s) -> uint32_t { return fp::f32_to_e5m2(f, s); },
                [](uint32_t c) { return fp::e5m2_to_f32(uint8_t(c)); }, true};
const Fmt* const kFormats[] = {&kBF16, &kF16, &kE4M3, &kE5M2};

std::vector<bool> sat_modes(const Fmt& f) {
  return f.has_saturating ? std::vector<bool>{false, true} : std::vector<bool>{false};
}

// ---------------------------------------------------------------------------
// Exhaustive: every code decodes to the reference value and re-encodes to itself.

TEST(DTypeExhaustive, DecodeMatchesDefinition) {
  for (const Fmt* f : kFormats) {
    SCOPED_TRACE(f->name);
    // The code-derived constants agree with the documented ones.
    const double want_max = f == &kE4M3 ? 448.0 : f == &kE5M2 ? 57344.0 : f == &kF16 ? 65504.0 : 0.0;
    if (f == &kBF16) {
      EXPECT_EQ(f->max_code(), 0x7F7Fu);
    } else {
      EXPECT_EQ(f->ref(f->max_code()), want_max);
    }
    for (uint32_t c = 0; c < f->ncodes(); ++c) {
      const float got = f->dec(c);
      const double want = f->ref(c);
      if (std::isnan(want)) {
        ASSERT_TRUE(std::isnan(got)) << std::hex << "code 0x" << c;
      } else {
        // Bit comparison: also checks the sign of zero.
        ASSERT_EQ(bits(got), bits(float(want))) << std::hex << "code 0x" << c << " got " << got;
        ASSERT_EQ(double(float(want)), want);  // every code is exact in f32
      }
    }
  }
}

TEST(DTypeExhaustive, RoundTrip) {
  for (const Fmt* f : kFormats) {
    for (bool sat : sat_modes(*f)) {
      SCOPED_TRACE(std::string(f->name) + (sat ? " saturating" : " non-saturating"));
      for (uint32_t c = 0; c < f->ncodes(); ++c) {
        const uint32_t back = f->enc(f->dec(c), sat);
        ASSERT_LT(back, f->ncodes());
        if (f->is_nan(c)) {
          ASSERT_TRUE(f->is_nan(back)) << std::hex << "code 0x" << c << " -> 0x" << back;
        } else if (f->is_inf(c) && sat) {  // saturating: +-inf -> +-max finite
          ASSERT_EQ(back, (c & f->sign_bit()) | f->max_code()) << std::hex << "code 0x" << c;
        } else {
          ASSERT_EQ(back, c) << std::hex << "code 0x" << c;
        }
      }
    }
  }
}

// Exhaustive rounding: for every pair of adjacent non-negative finite codes
// (k, k+1) the exact midpoint goes to the even code, one f32 ulp below it to k
// and one ulp above it to k+1; the same mirrored for negatives. Adjacent codes
// are adjacent values because magnitude codes are ordered like their values.
TEST(DTypeExhaustive, MidpointsRoundToNearestEven) {
  for (const Fmt* f : kFormats) {
    for (bool sat : sat_modes(*f)) {
      SCOPED_TRACE(std::string(f->name) + (sat ? " saturating" : " non-saturating"));
      for (uint32_t k = 0; k < f->max_code(); ++k) {
        const double lo = f->ref(k), hi = f->ref(k + 1);
        ASSERT_LT(lo, hi);
        const float mid = float((lo + hi) / 2);
        ASSERT_EQ(double(mid), (lo + hi) / 2);  // midpoints are exact in f32
        const uint32_t even = (k % 2 == 0) ? k : k + 1;
        const float below = std::nextafter(mid, 0.0f), above = std::nextafter(mid, kInf);
        for (uint32_t s : {0u, f->sign_bit()}) {
          const float sg = s ? -1.0f : 1.0f;
          ASSERT_EQ(f->enc(sg * mid, sat), s | even) << std::hex << "mid after 0x" << k;
          ASSERT_EQ(f->enc(sg * below, sat), s | k) << std::hex << "below mid after 0x" << k;
          ASSERT_EQ(f->enc(sg * above, sat), s | (k + 1)) << std::hex << "above mid after 0x" << k;
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------
// Hand-derived cases.

TEST(DTypeBF16, TiesToEven) {
  // bf16 keeps the top 16 bits of the f32; the dropped low 16 bits decide.
  // 0x3F808000 = 1 + 2^-8: dropped 0x8000 = exactly half, kept 0x3F80 even -> 0x3F80.
  EXPECT_EQ(fp::f32_to_bf16(from_bits(0x3F808000)), 0x3F80);
  // 0x3F818000: half, kept 0x3F81 odd -> up to 0x3F82.
  EXPECT_EQ(fp::f32_to_bf16(from_bits(0x3F818000)), 0x3F82);
  // 0x3F808001: above half -> 0x3F81; 0x3F817FFF: below half -> 0x3F81.
  EXPECT_EQ(fp::f32_to_bf16(from_bits(0x3F808001)), 0x3F81);
  EXPECT_EQ(fp::f32_to_bf16(from_bits(0x3F817FFF)), 0x3F81);
  // Negative mirror: 0xBF818000 -> 0xBF82.
  EXPECT_EQ(fp::f32_to_bf16(from_bits(0xBF818000)), 0xBF82);
  // Carry across the exponent: 0x3FFF8000 = 2 - 2^-8 (kept 0x3FFF odd, half) -> 0x4000 = 2.0.
  EXPECT_EQ(fp::f32_to_bf16(from_bits(0x3FFF8000)), 0x4000);
}

TEST(DTypeBF16, OverflowMaxAndSpecials) {
  // Max finite bf16 0x7F7F = (2 - 2^-7) * 2^127, f32 bits 0x7F7F0000.
  EXPECT_EQ(bits(fp::bf16_to_f32(0x7F7F)), 0x7F7F0000u);
  EXPECT_EQ(fp::f32_to_bf16(from_bits(0x7F7F0000)), 0x7F7F);
  EXPECT_EQ(fp::f32_to_bf16(from_bits(0x7F7F7FFF)), 0x7F7F);  // below half: stays
  // 0x7F7F8000: half between 0x7F7F (odd) and 0x7F80 -> even 0x7F80 = +inf.
  EXPECT_EQ(fp::f32_to_bf16(from_bits(0x7F7F8000)), 0x7F80);
  // f32 max 0x7F7FFFFF is above that midpoint -> inf; negative -> -inf 0xFF80.
  EXPECT_EQ(fp::f32_to_bf16(from_bits(0x7F7FFFFF)), 0x7F80);
  EXPECT_EQ(fp::f32_to_bf16(from_bits(0xFF7FFFFF)), 0xFF80);
  EXPECT_EQ(fp::f32_to_bf16(kInf), 0x7F80);
  EXPECT_EQ(fp::f32_to_bf16(-kInf), 0xFF80);
  // NaNs whose payload lies only in the dropped bits must stay NaN (truncation
  // would give inf 0x7F80 / 0xFF80).
  for (uint32_t nan : {0x7FC00000u, 0x7F800001u, 0xFF800001u, 0x7F80FFFFu, 0xFFFFFFFFu}) {
    const uint16_t b = fp::f32_to_bf16(from_bits(nan));
    EXPECT_EQ(b & 0x7F80, 0x7F80) << std::hex << nan;
    EXPECT_NE(b & 0x007F, 0) << std::hex << nan;
    EXPECT_EQ(b >> 15, nan >> 31) << std::hex << nan;  // sign kept
  }
  // Zeros.
  EXPECT_EQ(fp::f32_to_bf16(0.0f), 0x0000);
  EXPECT_EQ(fp::f32_to_bf16(-0.0f), 0x8000);
  EXPECT_EQ(bits(fp::bf16_to_f32(0x8000)), 0x80000000u);
}

TEST(DTypeBF16, F32Subnormals) {
  // f32 subnormals share bf16's exponent field 0: bf16 keeps the top 7 of the
  // 23 mantissa bits, so bf16 subnormal M = m32 >> 16 with m32's low 16 bits rounded.
  EXPECT_EQ(fp::f32_to_bf16(from_bits(0x00000001)), 0x0000);  // 2^-149: far below half
  EXPECT_EQ(fp::f32_to_bf16(from_bits(0x00008000)), 0x0000);  // half of 2^-133, tie to even 0
  EXPECT_EQ(fp::f32_to_bf16(from_bits(0x00008001)), 0x0001);  // above half
  EXPECT_EQ(fp::f32_to_bf16(from_bits(0x00010000)), 0x0001);  // 2^-133 exact, smallest bf16 subnormal
  EXPECT_EQ(fp::f32_to_bf16(from_bits(0x00018000)), 0x0002);  // tie between 1 (odd) and 2
  EXPECT_EQ(fp::f32_to_bf16(from_bits(0x80018000)), 0x8002);  // negative mirror
  EXPECT_EQ(fp::f32_to_bf16(from_bits(0x80000001)), 0x8000);  // tiny negative -> -0
  // Largest f32 subnormal 0x007FFFFF: M 0x7F + above-half rest -> carries into
  // the exponent: 0x0080 = 2^-126, the smallest normal.
  EXPECT_EQ(fp::f32_to_bf16(from_bits(0x007FFFFF)), 0x0080);
  EXPECT_EQ(fp::f32_to_bf16(from_bits(0x007F0000)), 0x007F);  // largest bf16 subnormal
  EXPECT_EQ(bits(fp::bf16_to_f32(0x0001)), 0x00010000u);
}

TEST(DTypeF16, TiesOverflowSubnormals) {
  // 1.0 = E 15, M 0 -> 0x3C00; ulp at 1 is 2^-10.
  EXPECT_EQ(fp::f32_to_f16(1.0f), 0x3C00);
  EXPECT_EQ(fp::f32_to_f16(1.0f + p2(-11)), 0x3C00);              // tie, M 0 even
  EXPECT_EQ(fp::f32_to_f16(1.0f + 3 * p2(-11)), 0x3C02);          // tie between M 1 (odd) and 2
  EXPECT_EQ(fp::f32_to_f16(1.0f + p2(-11) + p2(-23)), 0x3C01);    // just above the tie
  EXPECT_EQ(fp::f32_to_f16(-(1.0f + 3 * p2(-11))), 0xBC02);
  EXPECT_EQ(fp::f32_to_f16(2.0f - p2(-11)), 0x4000);              // tie at M 0x3FF (odd) -> carry to 2.0
  // Max 65504 = (2 - 2^-10) * 2^15 = E 30, M 0x3FF -> 0x7BFF. The midpoint to
  // 2^16 is 65520: tie, 0x7BFF odd -> rounds up to 0x7C00 = inf.
  EXPECT_EQ(fp::f32_to_f16(65504.0f), 0x7BFF);
  EXPECT_EQ(fp::f16_to_f32(0x7BFF), 65504.0f);
  EXPECT_EQ(fp::f32_to_f16(65519.0f), 0x7BFF);
  EXPECT_EQ(fp::f32_to_f16(65520.0f), 0x7C00);
  EXPECT_EQ(fp::f32_to_f16(-65520.0f), 0xFC00);
  EXPECT_EQ(fp::f32_to_f16(1e10f), 0x7C00);
  EXPECT_EQ(fp::f32_to_f16(kInf), 0x7C00);
  EXPECT_EQ(fp::f32_to_f16(-kInf), 0xFC00);
  EXPECT_TRUE(std::isinf(fp::f16_to_f32(0x7C00)));
  EXPECT_TRUE(std::isnan(fp::f16_to_f32(0x7C01)));
  EXPECT_EQ(fp::f32_to_f16(kNaN) & 0x7C00, 0x7C00);
  EXPECT_NE(fp::f32_to_f16(kNaN) & 0x03FF, 0);
  EXPECT_NE(fp::f32_to_f16(from_bits(0x7F800001)) & 0x03FF, 0);  // payload only in dropped bits
  // Subnormals: M * 2^-24. Smallest 2^-24 -> 0x0001; half of it is a tie with 0 -> 0.
  EXPECT_EQ(fp::f32_to_f16(p2(-24)), 0x0001);
  EXPECT_EQ(fp::f16_to_f32(0x0001), p2(-24));
  EXPECT_EQ(fp::f32_to_f16(p2(-25)), 0x0000);
  EXPECT_EQ(fp::f32_to_f16(-p2(-25)), 0x8000);
  EXPECT_EQ(fp::f32_to_f16(0.75f * p2(-24)), 0x0001);
  EXPECT_EQ(fp::f32_to_f16(1.5f * p2(-24)), 0x0002);   // tie between 1 (odd) and 2
  EXPECT_EQ(fp::f32_to_f16(2.5f * p2(-24)), 0x0002);   // tie between 2 (even) and 3
  EXPECT_EQ(fp::f32_to_f16(1023 * p2(-24)), 0x03FF);   // largest subnormal
  EXPECT_EQ(fp::f32_to_f16(p2(-14)), 0x0400);          // smallest normal, E 1
  EXPECT_EQ(fp::f32_to_f16(1023.5f * p2(-24)), 0x0400);  // tie, 0x3FF odd -> 0x400
  EXPECT_EQ(fp::f32_to_f16(from_bits(0x00000001)), 0x0000);  // f32 subnormal
  // Zeros.
  EXPECT_EQ(fp::f32_to_f16(0.0f), 0x0000);
  EXPECT_EQ(fp::f32_to_f16(-0.0f), 0x8000);
  EXPECT_EQ(bits(fp::f16_to_f32(0x8000)), 0x80000000u);
}

TEST(DTypeE4M3, TiesAndValues) {
  // 1.0 = E 7 (bias 7), M 0 -> 0 0111 000 = 0x38.
  EXPECT_EQ(fp::f32_to_e4m3(1.0f, false), 0x38);
  EXPECT_EQ(fp::f32_to_e4m3(-1.0f, false), 0xB8);
  // 16 = 2^4: E 11 = 1011, M 0 -> 0x58; 18 = 16 * 1.125: M 1 -> 0x59; 20: M 2 -> 0x5A.
  EXPECT_EQ(fp::f32_to_e4m3(16.0f, false), 0x58);
  EXPECT_EQ(fp::f32_to_e4m3(18.0f, false), 0x59);
  EXPECT_EQ(fp::f32_to_e4m3(17.0f, false), 0x58);  // tie between 16 (M 0, even) and 18
  EXPECT_EQ(fp::f32_to_e4m3(19.0f, false), 0x5A);  // tie between 18 (M 1, odd) and 20
  EXPECT_EQ(fp::f32_to_e4m3(-17.0f, true), 0xD8);
  // 0x78 = E 15, M 0 = 256: a finite value in the FN format (not inf).
  EXPECT_EQ(fp::e4m3_to_f32(0x78), 256.0f);
  EXPECT_EQ(fp::f32_to_e4m3(256.0f, false), 0x78);
}

TEST(DTypeE4M3, OverflowAndSpecials) {
  // Max finite: E 15, M 110 = 2^8 * 1.75 = 448 -> 0x7E. The next step would be
  // M 111 = 480, which is the NaN code 0x7F.
  EXPECT_EQ(fp::e4m3_to_f32(0x7E), 448.0f);
  EXPECT_EQ(fp::e4m3_to_f32(0xFE), -448.0f);
  for (bool sat : {false, true}) {
    EXPECT_EQ(fp::f32_to_e4m3(448.0f, sat), 0x7E);
    // 464 is the midpoint of 448 and 480; 448's M 110 is even -> 448.
    EXPECT_EQ(fp::f32_to_e4m3(464.0f, sat), 0x7E);
    EXPECT_EQ(fp::f32_to_e4m3(-464.0f, sat), 0xFE);
    // NaN -> NaN (S.1111.111) in both modes.
    EXPECT_EQ(fp::f32_to_e4m3(kNaN, sat) & 0x7F, 0x7F);
    EXPECT_EQ(fp::f32_to_e4m3(-kNaN, sat) & 0x7F, 0x7F);
  }
  // Above 464 rounds towards 480: out of range. Non-saturating: NaN (no inf in
  // FN); saturating: +-448.
  const float just_above = std::nextafter(464.0f, kInf);
  EXPECT_EQ(fp::f32_to_e4m3(just_above, false), 0x7F);
  EXPECT_EQ(fp::f32_to_e4m3(just_above, true), 0x7E);
  EXPECT_EQ(fp::f32_to_e4m3(480.0f, false), 0x7F);
  EXPECT_EQ(fp::f32_to_e4m3(480.0f, true), 0x7E);
  EXPECT_EQ(fp::f32_to_e4m3(-480.0f, false), 0xFF);
  EXPECT_EQ(fp::f32_to_e4m3(-480.0f, true), 0xFE);
  EXPECT_EQ(fp::f32_to_e4m3(1e30f, false), 0x7F);
  EXPECT_EQ(fp::f32_to_e4m3(1e30f, true), 0x7E);
  EXPECT_EQ(fp::f32_to_e4m3(kInf, false), 0x7F);
  EXPECT_EQ(fp::f32_to_e4m3(kInf, true), 0x7E);
  EXPECT_EQ(fp::f32_to_e4m3(-kInf, false), 0xFF);
  EXPECT_EQ(fp::f32_to_e4m3(-kInf, true), 0xFE);
  EXPECT_TRUE(std::isnan(fp::e4m3_to_f32(0x7F)));
  EXPECT_TRUE(std::isnan(fp::e4m3_to_f32(0xFF)));
  // Zeros.
  EXPECT_EQ(fp::f32_to_e4m3(0.0f, false), 0x00);
  EXPECT_EQ(fp::f32_to_e4m3(-0.0f, false), 0x80);
  EXPECT_EQ(bits(fp::e4m3_to_f32(0x80)), 0x80000000u);
}

TEST(DTypeE4M3, Subnormals) {
  // Subnormal = M * 2^(1 - 7 - 3) = M * 2^-9.
  for (bool sat : {false, true}) {
    EXPECT_EQ(fp::f32_to_e4m3(p2(-9), sat), 0x01);          // smallest subnormal
    EXPECT_EQ(fp::f32_to_e4m3(p2(-10), sat), 0x00);         // half of it: tie to even 0
    EXPECT_EQ(fp::f32_to_e4m3(-p2(-10), sat), 0x80);        // -> -0
    EXPECT_EQ(fp::f32_to_e4m3(0.75f * p2(-9), sat), 0x01);  // above half
    EXPECT_EQ(fp::f32_to_e4m3(1.5f * p2(-9), sat), 0x02);   // tie between 1 (odd) and 2
    EXPECT_EQ(fp::f32_to_e4m3(2.5f * p2(-9), sat), 0x02);   // tie between 2 (even) and 3
    EXPECT_EQ(fp::f32_to_e4m3(7 * p2(-9), sat), 0x07);      // largest subnormal
    EXPECT_EQ(fp::f32_to_e4m3(p2(-6), sat), 0x08);          // smallest normal E 1
    EXPECT_EQ(fp::f32_to_e4m3(7.5f * p2(-9), sat), 0x08);   // tie, 7 odd -> 8
    EXPECT_EQ(fp::f32_to_e4m3(p2(-20), sat), 0x00);
    EXPECT_EQ(fp::f32_to_e4m3(from_bits(0x00000001), sat), 0x00);  // f32 subnormal
  }
  EXPECT_EQ(fp::e4m3_to_f32(0x01), p2(-9));
  EXPECT_EQ(fp::e4m3_to_f32(0x81), -p2(-9));
}

TEST(DTypeE5M2, TiesOverflowSubnormals) {
  // 1.0 = E 15, M 0 -> 0 01111 00 = 0x3C; 1.25 -> 0x3D; 1.5 -> 0x3E.
  EXPECT_EQ(fp::f32_to_e5m2(1.0f, false), 0x3C);
  EXPECT_EQ(fp::f32_to_e5m2(1.125f, false), 0x3C);  // tie between 0x3C (even) and 0x3D
  EXPECT_EQ(fp::f32_to_e5m2(1.375f, false), 0x3E);  // tie between 0x3D (odd) and 0x3E
  EXPECT_EQ(fp::f32_to_e5m2(-1.375f, true), 0xBE);
  // Max finite: E 30, M 11 = 2^15 * 1.75 = 57344 -> 0x7B; 0x7C = inf.
  EXPECT_EQ(fp::e5m2_to_f32(0x7B), 57344.0f);
  EXPECT_TRUE(std::isinf(fp::e5m2_to_f32(0x7C)));
  EXPECT_TRUE(std::isnan(fp::e5m2_to_f32(0x7D)));
  for (bool sat : {false, true}) {
    EXPECT_EQ(fp::f32_to_e5m2(57344.0f, sat), 0x7B);
    EXPECT_EQ(fp::f32_to_e5m2(60000.0f, sat), 0x7B);  // below the midpoint 61440
    EXPECT_EQ(fp::f32_to_e5m2(kNaN, sat) & 0x7C, 0x7C);
    EXPECT_NE(fp::f32_to_e5m2(kNaN, sat) & 0x03, 0);
  }
  // 61440 = 2^15 * 1.875, midpoint of 57344 (M 11, odd) and 2^16: ties to even
  // go up to 0x7C = inf; saturating clamps to 0x7B.
  EXPECT_EQ(fp::f32_to_e5m2(61440.0f, false), 0x7C);
  EXPECT_EQ(fp::f32_to_e5m2(61440.0f, true), 0x7B);
  EXPECT_EQ(fp::f32_to_e5m2(-61440.0f, false), 0xFC);
  EXPECT_EQ(fp::f32_to_e5m2(-61440.0f, true), 0xFB);
  EXPECT_EQ(fp::f32_to_e5m2(std::nextafter(61440.0f, 0.0f), false), 0x7B);
  EXPECT_EQ(fp::f32_to_e5m2(kInf, false), 0x7C);
  EXPECT_EQ(fp::f32_to_e5m2(kInf, true), 0x7B);
  EXPECT_EQ(fp::f32_to_e5m2(-kInf, false), 0xFC);
  EXPECT_EQ(fp::f32_to_e5m2(-kInf, true), 0xFB);
  // Subnormal = M * 2^(1 - 15 - 2) = M * 2^-16.
  EXPECT_EQ(fp::f32_to_e5m2(p2(-16), false), 0x01);
  EXPECT_EQ(fp::f32_to_e5m2(p2(-17), false), 0x00);         // tie to even 0
  EXPECT_EQ(fp::f32_to_e5m2(1.5f * p2(-16), false), 0x02);  // tie between 1 (odd) and 2
  EXPECT_EQ(fp::f32_to_e5m2(3.5f * p2(-16), false), 0x04);  // tie, 3 odd -> 4 = 2^-14 (E 1)
  EXPECT_EQ(fp::e5m2_to_f32(0x01), p2(-16));
  // Zeros.
  EXPECT_EQ(fp::f32_to_e5m2(-0.0f, false), 0x80);
  EXPECT_EQ(bits(fp::e5m2_to_f32(0x80)), 0x80000000u);
}

// ---------------------------------------------------------------------------
// Tensor-level: cast() agrees with the scalar functions element by element.

// Interesting f32 inputs: every bf16 value, ties, out-of-range values, specials.
std::vector<float> probe_values() {
  std::vector<float> v;
  for (uint32_t c = 0; c < 65536; c += 7) v.push_back(fp::bf16_to_f32(uint16_t(c)));
  for (float x : {0.0f, -0.0f, 17.0f, 19.0f, 464.0f, 480.0f, -480.0f, 61440.0f, 65520.0f, 1e30f,
                  -1e30f, kInf, -kInf, kNaN, p2(-10), p2(-25), from_bits(0x3F818000),
                  from_bits(0x00018000), from_bits(0x7F7FFFFF)})
    v.push_back(x);
  return v;
}

template <typename T>
uint32_t code_at(const Tensor& t, size_t i) {
  return t.data<T>()[i].bits;
}

uint32_t tensor_code(const Tensor& t, size_t i) {
  switch (t.dtype()) {
    case DType::bf16: return code_at<bf16_t>(t, i);
    case DType::f16: return code_at<f16_t>(t, i);
    case DType::f8e4m3: return code_at<f8e4m3_t>(t, i);
    case DType::f8e5m2: return code_at<f8e5m2_t>(t, i);
    default: ADD_FAILURE() << "not a narrow dtype"; return 0;
  }
}

struct NarrowCase {
  DType dtype;
  const Fmt* fmt;
};
const NarrowCase kNarrow[] = {{DType::bf16, &kBF16}, {DType::f16, &kF16}, {DType::f8e4m3, &kE4M3},
                              {DType::f8e5m2, &kE5M2}};

TEST(DTypeCast, TensorCastMatchesScalar) {
  const std::vector<float> v = probe_values();
  const int64_t n = int64_t(v.size());
  Tensor x = empty({n}, DType::f32);
  std::copy(v.begin(), v.end(), x.data<float>());
  for (const NarrowCase& nc : kNarrow) {
    for (bool sat : {false, true}) {
      SCOPED_TRACE(std::string(nc.fmt->name) + (sat ? " saturating" : ""));
      Tensor y = cast(x, nc.dtype, sat);
      ASSERT_EQ(y.dtype(), nc.dtype);
      ASSERT_EQ(y.shape(), x.shape());
      // bf16/f16 have no saturating mode: the flag must not change them.
      const bool eff_sat = sat && nc.fmt->has_saturating;
      for (size_t i = 0; i < v.size(); ++i) {
        const uint32_t want = nc.fmt->enc(v[i], eff_sat);
        const uint32_t got = tensor_code(y, i);
        if (nc.fmt->is_nan(want)) ASSERT_TRUE(nc.fmt->is_nan(got)) << i << " " << v[i];
        else ASSERT_EQ(got, want) << i << " " << v[i];
      }
      // Back to f32 and f64: the scalar decode.
      Tensor z = cast(y, DType::f32);
      Tensor z64 = cast(y, DType::f64);
      for (size_t i = 0; i < v.size(); ++i) {
        const float want = nc.fmt->dec(tensor_code(y, i));
        if (std::isnan(want)) {
          ASSERT_TRUE(std::isnan(z.data<float>()[i]));
          ASSERT_TRUE(std::isnan(z64.data<double>()[i]));
        } else {
          ASSERT_EQ(bits(z.data<float>()[i]), bits(want)) << i;
          ASSERT_EQ(z64.data<double>()[i], double(want)) << i;
          ASSERT_EQ(std::signbit(z64.data<double>()[i]), std::signbit(want)) << i;
        }
      }
    }
  }
}

TEST(DTypeCast, SaturateFlag) {
  Tensor x = from_vector({480.0, -1000.0, 61440.0, 1e6, 1.0}, {5}, DType::f32);
  Tensor inf = full({2}, std::numeric_limits<double>::infinity(), DType::f32);
  auto codes = [](const Tensor& t) {
    std::vector<uint32_t> c;
    for (int64_t i = 0; i < t.numel(); ++i) c.push_back(tensor_code(t, size_t(i)));
    return c;
  };
  // e4m3: 480 / -1000 / 61440 / 1e6 overflow: NaN (0x7F/0xFF) or +-448 (0x7E/0xFE); 1.0 = 0x38.
  EXPECT_EQ(codes(cast(x, DType::f8e4m3, false)), (std::vector<uint32_t>{0x7F, 0xFF, 0x7F, 0x7F, 0x38}));
  EXPECT_EQ(codes(cast(x, DType::f8e4m3, true)), (std::vector<uint32_t>{0x7E, 0xFE, 0x7E, 0x7E, 0x38}));
  // e5m2: 480 = 2^8 * 1.875 is the tie between 448 (M 11, odd) and 512 -> 512 = E 24, M 0 = 0x60;
  // -1000 lies between 896 and 1024, nearer 1024 = E 25 -> 0xE4; 61440 -> inf / max; 1e6 -> inf / max.
  EXPECT_EQ(codes(cast(x, DType::f8e5m2, false)), (std::vector<uint32_t>{0x60, 0xE4, 0x7C, 0x7C, 0x3C}));
  EXPECT_EQ(codes(cast(x, DType::f8e5m2, true)), (std::vector<uint32_t>{0x60, 0xE4, 0x7B, 0x7B, 0x3C}));
  EXPECT_EQ(codes(cast(inf, DType::f8e4m3, true)), (std::vector<uint32_t>{0x7E, 0x7E}));
  EXPECT_EQ(codes(cast(inf, DType::f8e5m2, false)), (std::vector<uint32_t>{0x7C, 0x7C}));
  // From another narrow dtype: bf16 inf -> e4m3 follows the flag too.
  Tensor binf = cast(inf, DType::bf16);
  EXPECT_EQ(codes(cast(binf, DType::f8e4m3, true)), (std::vector<uint32_t>{0x7E, 0x7E}));
  EXPECT_EQ(codes(cast(binf, DType::f8e4m3, false)), (std::vector<uint32_t>{0x7F, 0x7F}));
}

TEST(DTypeCast, NonContiguousAndF64Source) {
  // Transposed view: element (i, j) of the view is x[j][i].
  Tensor x = randn({37, 53}, 3, 0, DType::f32);
  Tensor xt = x.transpose(0, 1);
  Tensor y = cast(xt, DType::bf16);
  ASSERT_TRUE(y.is_contiguous());
  for (int64_t i = 0; i < 53; ++i)
    for (int64_t j = 0; j < 37; ++j)
      ASSERT_EQ(y.data<bf16_t>()[i * 37 + j].bits, fp::f32_to_bf16(x.data<float>()[j * 53 + i]));
  // f64 sources are rounded to f32 first (documented in core/cpu/convert.h).
  Tensor d = randn({1000}, 5, 0, DType::f64);
  for (const NarrowCase& nc : kNarrow) {
    Tensor e = cast(d, nc.dtype, true);
    for (size_t i = 0; i < 1000; ++i)
      ASSERT_EQ(tensor_code(e, i), nc.fmt->enc(float(d.data<double>()[i]), nc.fmt->has_saturating));
  }
}

}  // namespace
}  // namespace moe
