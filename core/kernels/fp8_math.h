#pragma once
// FP8 scaling arithmetic shared by the CPU emulation (core/fp8/scaling.cc)
// and the CUDA quantise kernels, so both give the same scales bit for bit:
// the current scale from an amax, and where a layout keeps the scale of
// element [r, c] (the conventions: core/fp8/scaling.h).
#include <cstdint>
#include <cstring>

#include "core/dtype_convert.h"
#include "core/hd.h"

namespace moe::fp8_math {

inline constexpr int64_t kTile = 128;
inline constexpr float kFltMax = 3.40282346638528859812e+38f;

// Layouts, numbered as fp8::Layout.
enum LayoutCode : int { per_tensor = 0, tile_1x128 = 1, block_128x128 = 2, tile_128x1 = 3 };

// s = fl32(fmt_max / amax), FLT_MAX when that overflows, 1 for amax 0; with
// pow2_down the largest power of two <= fmt_max / amax (exponent clamped to
// [-126, 127]). amax finite and >= 0.
MOE_HD float scale_from_amax(float amax, float fmt_max, bool pow2_down) {
  if (amax == 0.0f) return 1.0f;
  if (pow2_down) {
    // fmt_max and amax are f32, so the double quotient is a normal double
    // and never rounds onto a power of two it is not; its exponent field is
    // floor(log2(q)).
    const double q = double(fmt_max) / double(amax);
    uint64_t bits;
#if defined(__CUDA_ARCH__)
    bits = uint64_t(__double_as_longlong(q));
#else
    std::memcpy(&bits, &q, 8);
#endif
    int e = int((bits >> 52) & 0x7FF) - 1023;
    e = e < -126 ? -126 : (e > 127 ? 127 : e);
    return fp::f32_from_bits(uint32_t(e + 127) << 23);
  }
  const float s = fmt_max / amax;
  return s <= kFltMax ? s : kFltMax;
}

// The scale grid of a layout for a [rows, cols] operand.
MOE_HD int64_t scale_rows(int layout, int64_t rows) {
  return layout == per_tensor ? 1 : layout == tile_1x128 ? rows : (rows + kTile - 1) / kTile;
}
MOE_HD int64_t scale_cols(int layout, int64_t cols) {
  return layout == per_tensor ? 1 : layout == tile_128x1 ? cols : (cols + kTile - 1) / kTile;
}
// Rows and columns of one tile (ragged edge tiles are cut at the operand's edge).
MOE_HD int64_t tile_rows(int layout, int64_t rows) {
  return layout == per_tensor ? (rows > 1 ? rows : 1) : layout == tile_1x128 ? 1 : kTile;
}
MOE_HD int64_t tile_cols(int layout, int64_t cols) {
  return layout == per_tensor ? (cols > 1 ? cols : 1) : layout == tile_128x1 ? 1 : kTile;
}
// Index into the row-major scale grid of element [r, c].
MOE_HD int64_t scale_index(int layout, int64_t r, int64_t c, int64_t scale_cols) {
  return layout == per_tensor ? 0 : (r / tile_rows(layout, 1)) * scale_cols + c / tile_cols(layout, 1);
}

}  // namespace moe::fp8_math
