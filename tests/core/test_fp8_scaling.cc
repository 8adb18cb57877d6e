// FP8 quantisation with scales (core/fp8/scaling.h): every code, saturation,
// scale edge cases, tile layouts with ragged edges, power-of-two scales,
// delayed scaling history, inf/NaN errors.
//
// Expected values come from the format definitions (e4m3fn: max 448, 254
// finite codes; e5m2: max 57344, 248 finite codes) and from amaxes computed
// here independently of the code under test.
#include <gtest/gtest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "core/fp8/scaling.h"
#include "core/ops.h"
#include "tests/core/float_bits.h"

namespace moe::fp8 {
namespace {

using test::bits;
using test::kInf;
using test::kNaN;

// Independent decoder from the format definition (normal: 2^(E-bias)(1+M/2^m),
// subnormal: M 2^(1-bias-m)); returns NaN for inf/NaN codes.
float ref_value(uint8_t code, Format f) {
  const int eb = f == Format::e4m3 ? 4 : 5, mb = f == Format::e4m3 ? 3 : 2, bias = f == Format::e4m3 ? 7 : 15;
  const int s = code >> 7, e = (code >> mb) & ((1 << eb) - 1), m = code & ((1 << mb) - 1);
  if (f == Format::e4m3 && (code & 0x7F) == 0x7F) return kNaN;
  if (f == Format::e5m2 && e == 31) return kNaN;
  const double v = e == 0 ? std::ldexp(double(m), 1 - bias - mb) : std::ldexp(1.0 + m / double(1 << mb), e - bias);
  return float(s ? -v : v);
}

std::vector<uint8_t> finite_codes(Format f) {
  std::vector<uint8_t> out;
  for (int c = 0; c < 256; ++c)
    if (std::isfinite(ref_value(uint8_t(c), f))) out.push_back(uint8_t(c));
  return out;
}

class Fp8Formats : public ::testing::TestWithParam<Format> {};

TEST_P(Fp8Formats, EveryFiniteCodeRoundTripsAtScaleOne) {
  const Format f = GetParam();
  const std::vector<uint8_t> codes = finite_codes(f);
  EXPECT_EQ(codes.size(), f == Format::e4m3 ? 254u : 248u);
  std::vector<float> x;
  for (uint8_t c : codes) {
    EXPECT_EQ(bits(from_code(c, f)), bits(ref_value(c, f))) << int(c);
    x.push_back(ref_value(c, f));
  }
  // Given scale 1.
  const Quantized q = quantize_with_scale(x.data(), 1, int64_t(x.size()), f, 1.0f, "codes");
  ASSERT_EQ(q.codes.size(), codes.size());
  for (size_t i = 0; i < codes.size(); ++i) EXPECT_EQ(int(q.codes[i]), int(codes[i])) << i;
  const std::vector<float> back = dequantize(q);
  for (size_t i = 0; i < codes.size(); ++i) EXPECT_EQ(bits(back[i]), bits(x[i])) << i;
  EXPECT_EQ(q.amax, format_max(f));
  // Current scaling: amax is exactly fmt_max, so the scale is exactly 1 in
  // both roundings and the codes are the identity again.
  for (ScaleRounding r : {ScaleRounding::none, ScaleRounding::pow2_down}) {
    const Quantized c = quantize(x.data(), 1, int64_t(x.size()), f, Layout::per_tensor, r, "codes");
    EXPECT_EQ(c.scales, std::vector<float>{1.0f});
    EXPECT_EQ(c.codes, codes);
  }
}

TEST_P(Fp8Formats, SaturatesBeyondMax) {
  const Format f = GetParam();
  const float mx = format_max(f);
  // e4m3: next (non-existent) step above 448 would be 480, midpoint 464;
  // e5m2: above 57344 would be 65536, midpoint 61440. All saturate.
  const float mid = f == Format::e4m3 ? 464.0f : 61440.0f;
  const std::vector<float> x = {mx, mid, 2 * mx, 1e30f, FLT_MAX, -mid, -FLT_MAX};
  const Quantized q = quantize_with_scale(x.data(), 1, int64_t(x.size()), f, 1.0f);
  const std::vector<float> back = dequantize(q);
  for (size_t i = 0; i < x.size(); ++i) EXPECT_EQ(back[i], x[i] > 0 ? mx : -mx) << x[i];
  // With scale 2, 300 * 2 = 600 > max (e4m3) saturates, dequantises to max / 2.
  const float y = f == Format::e4m3 ? 300.0f : 40000.0f;
  const Quantized q2 = quantize_with_scale(&y, 1, 1, f, 2.0f);
  EXPECT_EQ(dequantize(q2)[0], mx / 2);
}

TEST_P(Fp8Formats, ZeroTensorHasScaleOne) {
  const Format f = GetParam();
  const std::vector<float> z(200 * 300, 0.0f);
  for (Layout l : {Layout::per_tensor, Layout::tile_1x128, Layout::block_128x128, Layout::tile_128x1}) {
    for (ScaleRounding r : {ScaleRounding::none, ScaleRounding::pow2_down}) {
      const Quantized q = quantize(z.data(), 200, 300, f, l, r, "zero");
      for (float s : q.scales) EXPECT_EQ(s, 1.0f);
      for (uint8_t c : q.codes) EXPECT_EQ(int(c), 0);
      for (float v : dequantize(q)) EXPECT_EQ(bits(v), 0u);
      EXPECT_EQ(q.amax, 0.0f);
    }
  }
  // Empty input is fine too.
  const Quantized e = quantize(z.data(), 0, 5, f, Layout::tile_1x128);
  EXPECT_TRUE(e.codes.empty());
  EXPECT_EQ(scale_from_amax(0.0f, f), 1.0f);
  EXPECT_EQ(scale_from_amax(0.0f, f, ScaleRounding::pow2_down), 1.0f);
}

TEST_P(Fp8Formats, CurrentScaleMapsAmaxToMax) {
  const Format f = GetParam();
  std::mt19937 gen(7);
  std::normal_distribution<float> nd(0.0f, 3.0f);
  std::vector<float> x(1000);
  for (float& v : x) v = nd(gen);
  const Quantized q = quantize(x.data(), 10, 100, f, Layout::per_tensor);
  float a = 0;
  for (float v : x) a = std::max(a, std::fabs(v));
  EXPECT_EQ(q.amax, a);
  EXPECT_EQ(q.scales[0], format_max(f) / a);
  // The element holding amax dequantises to it within one f32 rounding pair.
  const std::vector<float> back = dequantize(q);
  float bmax = 0;
  for (float v : back) bmax = std::max(bmax, std::fabs(v));
  EXPECT_NEAR(bmax, a, a * 1e-6);
}

TEST_P(Fp8Formats, PowerOfTwoScalesRoundDownAndNeverSaturate) {
  const Format f = GetParam();
  const float mx = format_max(f);
  // Hand cases: 448 / 3.5 = 128 exactly -> 128; a hair above 3.5 -> 64;
  // 448 / 448 = 1 -> 1; 448 / 1000 = 0.448 -> 0.25.
  if (f == Format::e4m3) {
    EXPECT_EQ(scale_from_amax(3.5f, f, ScaleRounding::pow2_down), 128.0f);
    EXPECT_EQ(scale_from_amax(std::nextafter(3.5f, 4.0f), f, ScaleRounding::pow2_down), 64.0f);
    EXPECT_EQ(scale_from_amax(448.0f, f, ScaleRounding::pow2_down), 1.0f);
    EXPECT_EQ(scale_from_amax(1000.0f, f, ScaleRounding::pow2_down), 0.25f);
  }
  // Extremes: tiny amax clamps the exponent to 127 (none: FLT_MAX); huge amax
  // gives a normal scale.
  EXPECT_EQ(scale_from_amax(1e-45f, f, ScaleRounding::pow2_down), std::ldexp(1.0f, 127));
  EXPECT_EQ(scale_from_amax(1e-45f, f, ScaleRounding::none), FLT_MAX);
  EXPECT_GT(scale_from_amax(FLT_MAX, f, ScaleRounding::pow2_down), 0.0f);
  // Sweep of amaxes: s is a power of two, s <= max / amax < 2 s, and
  // amax * s <= max (no saturation), checked in f64.
  std::mt19937 gen(11);
  std::uniform_real_distribution<double> ex(-30, 30);
  for (int i = 0; i < 2000; ++i) {
    const float a = float(std::exp2(ex(gen)));
    const float s = scale_from_amax(a, f, ScaleRounding::pow2_down);
    int e;
    EXPECT_EQ(std::frexp(s, &e), 0.5f) << a;
    EXPECT_LE(double(a) * s, double(mx)) << a;
    EXPECT_GT(double(a) * s * 2, double(mx)) << a;
    // The amax element itself is not clipped: its code is not the max code
    // unless amax * s is exactly max.
    const float back = dequantize(quantize(&a, 1, 1, f, Layout::per_tensor, ScaleRounding::pow2_down))[0];
    EXPECT_LE(std::fabs(back - a), a * (f == Format::e4m3 ? 0.0625 : 0.125)) << a;
  }
}

// The vectorised encoder of the quantisers (to_codes) against the reference
// conversion (to_code, core/dtype_convert.h), bit for bit: every 127th f32
// bit pattern (all exponents, both signs, NaNs skipped: they are rejected
// before encoding) and, around every FP8 value and every midpoint between
// neighbours, the 8 nearest f32 values on either side; inf saturates.
TEST_P(Fp8Formats, VectorisedEncoderMatchesTheReference) {
  const Format f = GetParam();
  std::vector<float> x;
  for (uint64_t u = 0; u < (uint64_t(1) << 32); u += 127) {
    const float v = test::from_bits(uint32_t(u));
    if (!std::isnan(v)) x.push_back(v);
  }
  const std::vector<uint8_t> codes = finite_codes(f);
  std::vector<float> vals;
  for (uint8_t c : codes) vals.push_back(ref_value(c, f));
  std::sort(vals.begin(), vals.end());
  for (size_t i = 0; i < vals.size(); ++i) {
    std::vector<float> centres = {vals[i]};
    if (i + 1 < vals.size()) centres.push_back(float((double(vals[i]) + vals[i + 1]) / 2));
    for (float c : centres)
      for (int d = -8; d <= 8; ++d) {
        const float v = test::from_bits(uint32_t(int64_t(bits(c)) + d));
        if (!std::isnan(v)) x.push_back(v);  // (-0 minus an ulp is a NaN pattern)
      }
  }
  for (float v : {kInf, -kInf, 0.0f, -0.0f, format_max(f) * 1.0625f, -format_max(f) * 1.03125f}) x.push_back(v);
  std::vector<uint8_t> fast(x.size());
  to_codes(x.data(), 1.0f, int64_t(x.size()), f, fast.data());
  int64_t bad = 0;
  for (size_t i = 0; i < x.size(); ++i)
    if (fast[i] != to_code(x[i], f) && bad++ < 5)
      ADD_FAILURE() << "x = " << x[i] << " (bits " << std::hex << bits(x[i]) << std::dec << "): " << int(fast[i])
                    << " vs " << int(to_code(x[i], f));
  EXPECT_EQ(bad, 0) << "of " << x.size();
  // values(): every one of the 256 codes decodes as from_code (NaN as NaN).
  Quantized all;
  all.format = f;
  all.rows = 1;
  all.cols = 256;
  for (int c = 0; c < 256; ++c) all.codes.push_back(uint8_t(c));
  const std::vector<float> dec = values(all);
  for (int c = 0; c < 256; ++c) {
    const float want = from_code(uint8_t(c), f);
    if (std::isnan(want)) EXPECT_TRUE(std::isnan(dec[size_t(c)])) << c;
    else EXPECT_EQ(bits(dec[size_t(c)]), bits(want)) << c;
  }
  // The per-element-scale form: x[i] * s[i].
  std::vector<float> s(x.size(), 0.5f), y(x.size());
  for (size_t i = 0; i < x.size(); i += 3) s[i] = 3.0f;
  to_codes(x.data(), s.data(), int64_t(x.size()), f, fast.data());
  for (size_t i = 0; i < x.size(); i += 1001) EXPECT_EQ(fast[i], to_code(x[i] * s[i], f)) << x[i];
}

INSTANTIATE_TEST_SUITE_P(Fp8, Fp8Formats, ::testing::Values(Format::e4m3, Format::e5m2),
                         [](const auto& info) { return std::string(format_name(info.param)); });

// Ragged shapes: 130 x 300 has 1x128 tiles 130 x 3 (last 44 wide) and
// 128x128 blocks 2 x 3 (last row block 2 tall). Each tile's scale comes from
// its own amax, computed here by brute force.
TEST(Fp8Tiles, RaggedTilesUseTheirOwnAmax) {
  const int64_t R = 130, C = 300;
  std::mt19937 gen(3);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> x(size_t(R * C));
  for (int64_t i = 0; i < R; ++i)
    for (int64_t j = 0; j < C; ++j)  // magnitudes vary by tile so scales differ
      x[size_t(i * C + j)] = nd(gen) * std::ldexp(1.0f, int((i / 7 + j / 128) % 9) - 4) * (j >= 256 ? 1e-3f : 1.0f);
  for (Layout l : {Layout::tile_1x128, Layout::block_128x128}) {
    const Quantized q = quantize(x.data(), R, C, Format::e4m3, l, ScaleRounding::none, "act");
    const int64_t th = l == Layout::tile_1x128 ? 1 : 128;
    ASSERT_EQ(q.scale_rows(), l == Layout::tile_1x128 ? R : 2);
    ASSERT_EQ(q.scale_cols(), 3);
    ASSERT_EQ(q.scales.size(), size_t(q.scale_rows() * 3));
    for (int64_t ti = 0; ti < q.scale_rows(); ++ti)
      for (int64_t tj = 0; tj < 3; ++tj) {
        float a = 0;
        for (int64_t i = ti * th; i < std::min(R, (ti + 1) * th); ++i)
          for (int64_t j = tj * 128; j < std::min(C, (tj + 1) * 128); ++j) a = std::max(a, std::fabs(x[size_t(i * C + j)]));
        const float s = q.scales[size_t(ti * 3 + tj)];
        EXPECT_EQ(s, 448.0f / a) << layout_name(l) << " tile " << ti << "," << tj;
        EXPECT_EQ(q.scale_at(ti * th, tj * 128), s);
      }
    // Every element's dequantised value is within the e4m3 half-ulp bound
    // (relative 2^-4, or 2^-10 / s absolute in the subnormal range).
    const std::vector<float> back = dequantize(q);
    for (int64_t i = 0; i < R; ++i)
      for (int64_t j = 0; j < C; ++j) {
        const double v = x[size_t(i * C + j)], s = q.scale_at(i, j);
        EXPECT_LE(std::fabs(back[size_t(i * C + j)] - v), std::fabs(v) * 0x1p-4 * (1 + 1e-6) + 0x1p-10 / s);
      }
  }
}

// 128x1 tiles (per column, per 128 rows: the weight-gradient GEMM's
// operands) are the 1x128 tiles of the transpose, bit for bit, and
// transposed() moves any quantisation to the transpose without re-rounding.
TEST(Fp8Tiles, TransposedTilesAreTheTransposesTiles) {
  const int64_t R = 300, C = 130;  // ragged both ways
  std::mt19937 gen(5);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> x(size_t(R * C)), xt(size_t(R * C));
  for (int64_t i = 0; i < R; ++i)
    for (int64_t j = 0; j < C; ++j) {
      x[size_t(i * C + j)] = nd(gen) * std::ldexp(1.0f, int((i / 128 + j) % 7) - 3);
      xt[size_t(j * R + i)] = x[size_t(i * C + j)];
    }
  const Quantized col = quantize(x.data(), R, C, Format::e4m3, Layout::tile_128x1, ScaleRounding::none, "x");
  ASSERT_EQ(col.scale_rows(), 3);
  ASSERT_EQ(col.scale_cols(), C);
  // Brute-force amax of column j, rows [128 ti, ...).
  for (int64_t ti = 0; ti < 3; ++ti)
    for (int64_t j = 0; j < C; ++j) {
      float a = 0;
      for (int64_t i = ti * 128; i < std::min(R, (ti + 1) * 128); ++i) a = std::max(a, std::fabs(x[size_t(i * C + j)]));
      EXPECT_EQ(col.scale_at(std::min(R - 1, ti * 128 + 100), j), 448.0f / a) << ti << "," << j;
    }
  const Quantized row_t = quantize(xt.data(), C, R, Format::e4m3, Layout::tile_1x128);
  for (const auto& [q, ref] : {std::pair{transposed(col), row_t}, std::pair{col, transposed(row_t)}}) {
    EXPECT_EQ(q.rows, ref.rows);
    EXPECT_EQ(q.layout, ref.layout);
    EXPECT_EQ(q.codes, ref.codes);
    EXPECT_EQ(q.scales, ref.scales);
    EXPECT_EQ(q.amax, ref.amax);
  }
  // Blocks and per-tensor: the transpose's quantisation, exactly.
  for (Layout l : {Layout::block_128x128, Layout::per_tensor}) {
    const Quantized t = transposed(quantize(x.data(), R, C, Format::e5m2, l));
    const Quantized ref = quantize(xt.data(), C, R, Format::e5m2, l);
    EXPECT_EQ(t.layout, l);
    EXPECT_EQ(t.codes, ref.codes) << layout_name(l);
    EXPECT_EQ(t.scales, ref.scales) << layout_name(l);
  }
  // values() is the code table, dequantize() divides by the scale.
  const std::vector<float> v = values(col), d = dequantize(col);
  for (int64_t i = 0; i < R * C; i += 37) {
    EXPECT_EQ(v[size_t(i)], from_code(col.codes[size_t(i)], Format::e4m3));
    EXPECT_EQ(d[size_t(i)], v[size_t(i)] / col.scale_at(i / C, i % C));
  }
}

TEST(Fp8Tiles, TensorOverloadViewsLastDimAsChannels) {
  std::vector<double> v(2 * 3 * 200);
  for (size_t i = 0; i < v.size(); ++i) v[i] = double(i % 97) - 48.0;
  const Tensor t = from_vector(v, {2, 3, 200});
  const Quantized q = quantize(t, Format::e4m3, Layout::tile_1x128);
  EXPECT_EQ(q.rows, 6);
  EXPECT_EQ(q.cols, 200);
  EXPECT_EQ(q.scales.size(), 12u);
  EXPECT_THROW(quantize(from_vector(v, {2, 3, 200}, DType::f64), Format::e4m3, Layout::tile_1x128), Error);
}

TEST(Fp8Errors, NonFiniteInputThrowsNamingTensorAndPosition) {
  std::vector<float> x(4 * 300, 1.0f);
  for (float bad : {kNaN, kInf, -kInf}) {
    x[1 * 300 + 257] = bad;
    for (Layout l : {Layout::per_tensor, Layout::tile_1x128, Layout::block_128x128, Layout::tile_128x1}) {
      try {
        quantize(x.data(), 4, 300, Format::e4m3, l, ScaleRounding::none, "mlp.fc1.input");
        ADD_FAILURE() << "no throw for " << bad;
      } catch (const Error& e) {
        const std::string m = e.what();
        EXPECT_NE(m.find("'mlp.fc1.input'"), std::string::npos) << m;
        EXPECT_NE(m.find("[1, 257]"), std::string::npos) << m;
      }
    }
    EXPECT_THROW(quantize_with_scale(x.data(), 4, 300, Format::e5m2, 1.0f, "grad"), Error);
  }
  x[1 * 300 + 257] = 1.0f;
  // Bad scales and amaxes.
  EXPECT_THROW(quantize_with_scale(x.data(), 4, 300, Format::e4m3, 0.0f), Error);
  EXPECT_THROW(quantize_with_scale(x.data(), 4, 300, Format::e4m3, kInf), Error);
  EXPECT_THROW(scale_from_amax(kNaN, Format::e4m3), Error);
  EXPECT_THROW(scale_from_amax(-1.0f, Format::e4m3), Error);
}

TEST(Fp8Delayed, AmaxHistoryScaleFromMaxUpdateAfterUse) {
  AmaxHistory h(3);
  EXPECT_EQ(h.length(), 3);
  EXPECT_EQ(h.scale(Format::e4m3), 1.0f);  // empty history -> 1
  // Step 1: scale 1 used, then amax 2 recorded.
  std::vector<float> x = {2.0f, -1.0f};
  Quantized q = quantize_with_scale(x.data(), 1, 2, Format::e4m3, h.scale(Format::e4m3), "x");
  h.update(q.amax);
  EXPECT_EQ(h.values(), (std::vector<float>{0, 0, 2}));
  EXPECT_EQ(h.scale(Format::e4m3), 224.0f);
  h.update(8.0f);
  h.update(1.0f);
  EXPECT_EQ(h.values(), (std::vector<float>{2, 8, 1}));
  EXPECT_EQ(h.scale(Format::e4m3), 56.0f);
  EXPECT_EQ(h.scale(Format::e5m2, ScaleRounding::pow2_down), 4096.0f);  // 57344/8 = 7168 -> 4096
  h.update(1.0f);
  EXPECT_EQ(h.max_amax(), 8.0f);  // 8 is still in the window
  h.update(1.0f);
  EXPECT_EQ(h.values(), (std::vector<float>{1, 1, 1}));
  EXPECT_EQ(h.scale(Format::e4m3), 448.0f);
  // Delayed scaling lags: a new amax of 10 with scale 448 saturates to 1.
  x = {10.0f, 0.5f};
  q = quantize_with_scale(x.data(), 1, 2, Format::e4m3, h.scale(Format::e4m3));
  EXPECT_EQ(dequantize(q), (std::vector<float>{1.0f, 0.5f}));
  // Checkpoint round trip.
  h.update(q.amax);
  const AmaxHistory r(h.values());
  EXPECT_EQ(r.values(), h.values());
  EXPECT_EQ(r.scale(Format::e4m3), h.scale(Format::e4m3));
  EXPECT_THROW(AmaxHistory(0), Error);
  EXPECT_THROW(h.update(kNaN), Error);
  EXPECT_THROW(AmaxHistory(std::vector<float>{}), Error);
}

}  // namespace
}  // namespace moe::fp8
