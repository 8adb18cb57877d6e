#pragma once
// FP8 quantisation with scales (issue 8), exact CPU emulation.
//
// Conventions (every rule here is what a CUDA kernel must reproduce):
//   * A "scale" s multiplies the input:  q = code(saturate_rne(fl32(x * s)))
//     i.e. x * s is rounded to f32 first, then to the FP8 value set with
//     round-to-nearest-even and saturation to +-fmt_max (core/dtype_convert.h,
//     the one conversion of the code base).  Dequantisation: x' = fp8(q) / s
//     (one f32 division).  The GEMM uses 1/s (fp8/gemm.h).
//   * Current scaling: s = fl32(fmt_max / amax); amax == 0 gives s = 1; an
//     s that overflows f32 (amax tiny) is clamped to FLT_MAX.  With
//     ScaleRounding::pow2_down s is rounded DOWN to a power of two
//     (2^floor(log2(fmt_max / amax)), computed exactly), so amax * s <= fmt_max
//     and no value saturates; the exponent is clamped to [-126, 127].
//   * Layouts of a 2-D [rows, cols] operand (kTile = 128):
//       per_tensor     one scale
//       tile_1x128     scales[r, c / 128]         (activations: per row, per 128
//                      channels along the last dim), shape rows x ceil(cols/128)
//       block_128x128  scales[r / 128, c / 128]   (weights),
//                      shape ceil(rows/128) x ceil(cols/128)
//       tile_128x1     scales[r / 128, c]         (the transposed tile: per column,
//                      per 128 rows; the weight-gradient GEMM's operands are
//                      quantised along tokens, DeepSeek-V3's "128x1" tiles),
//                      shape ceil(rows/128) x cols
//     A ragged edge tile/block uses the amax of its own (fewer) elements.
//   * Non-finite input (inf or NaN) is an error: quantise throws moe::Error
//     naming the tensor and the [row, col] of the first such element (row-major
//     scan order). FP8 training treats an inf/NaN activation or weight as a
//     bug upstream, not as something to saturate silently; gradient overflow
//     handling (skip step) belongs to the optimizer, which must check before
//     quantising.
#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace moe::fp8 {

inline constexpr int64_t kTile = 128;

enum class Format : uint8_t { e4m3, e5m2 };
// Numbered as fp8_math::LayoutCode (core/kernels/fp8_math.h), which the kernels use.
enum class Layout : uint8_t { per_tensor, tile_1x128, block_128x128, tile_128x1 };
enum class ScaleRounding : uint8_t { none, pow2_down };

const char* format_name(Format f);
const char* layout_name(Layout l);

// Largest finite magnitude: 448 (e4m3fn), 57344 (e5m2).
float format_max(Format f);
// Saturating round-to-nearest-even f32 -> FP8 code, and code -> f32 (exact).
// NaN maps to the NaN code (callers reject NaN before, see above).
uint8_t to_code(float x, Format f);
float from_code(uint8_t code, Format f);
// out[i] = to_code(x[i] * scale, f) for finite x[i] (x * scale may
// overflow to inf: it saturates), the vectorised form the quantisers use;
// tests pin it to to_code bit for bit. The second form scales each element
// by its own scale[i].
void to_codes(const float* x, float scale, int64_t n, Format f, uint8_t* out);
void to_codes(const float* x, const float* scale, int64_t n, Format f, uint8_t* out);

// max |x| over n values; throws moe::Error naming `name` and the flat index
// (reported as [row, col] with the given row length `cols`) of the first
// non-finite value.
float amax(const float* x, int64_t n, const std::string& name = "x", int64_t cols = 0);

// Current scale from an amax (finite, >= 0), see the conventions above.
float scale_from_amax(float amax, Format f, ScaleRounding r = ScaleRounding::none);

// A quantised 2-D operand [rows, cols], row-major codes.
struct Quantized {
  Format format = Format::e4m3;
  Layout layout = Layout::per_tensor;
  int64_t rows = 0, cols = 0;
  std::vector<uint8_t> codes;   // rows * cols
  std::vector<float> scales;    // scale_rows() * scale_cols(), row-major
  float amax = 0;               // max |x| of the whole input (for delayed scaling)

  int64_t scale_rows() const;
  int64_t scale_cols() const;
  // Scale that applies to element [r, c].
  float scale_at(int64_t r, int64_t c) const;
  float value(int64_t r, int64_t c) const { return from_code(codes[size_t(r * cols + c)], format); }
};

// Scale grid shape of a layout for a [rows, cols] operand.
int64_t scale_rows(Layout l, int64_t rows);
int64_t scale_cols(Layout l, int64_t cols);

// Current scaling in any layout: each tile's scale from that tile's amax.
Quantized quantize(const float* x, int64_t rows, int64_t cols, Format f, Layout l,
                   ScaleRounding r = ScaleRounding::none, const std::string& name = "x");
// Per-tensor quantisation with a given scale (delayed scaling); values beyond
// fmt_max / scale saturate. scale must be finite and > 0. Also records amax.
Quantized quantize_with_scale(const float* x, int64_t rows, int64_t cols, Format f, float scale,
                              const std::string& name = "x");
// x'[r, c] = fp8(q[r, c]) / scale_at(r, c), row-major rows * cols.
std::vector<float> dequantize(const Quantized& q);
// fp8(q[r, c]) without the scales (exact in f32), row-major rows * cols
// (the second form writes them to out).
std::vector<float> values(const Quantized& q);
void values(const Quantized& q, float* out);
// The same quantised matrix read transposed: codes [cols, rows], the scale
// grid transposed with it (tile_1x128 <-> tile_128x1; per_tensor and
// block_128x128 keep their layout). Exact: no value is re-rounded, so the
// 128x128 weight blocks serve both W (forward) and W^T (input gradient).
Quantized transposed(const Quantized& q);

// A quantised 2-D operand as tensors on one device, the form a CUDA
// quantise produces without a host round trip (backend::fp8_quantize):
// codes [rows, cols] of dtype f8e4m3 / f8e5m2, row-major; scales f32
// [max(scale_rows * scale_cols, 1)], the grid row-major; amax f32 [1].
struct QuantizedTensor {
  Format format = Format::e4m3;
  Layout layout = Layout::per_tensor;
  int64_t rows = 0, cols = 0;
  Tensor codes, scales, amax;  // amax may be undefined (codes made elsewhere): 0 on the host
};
QuantizedTensor to_tensors(const Quantized& q, Device device);
Quantized to_host(const QuantizedTensor& q);  // copies the device data over

// Tensor forms: x must be f32, CPU, contiguous, dim >= 1; it is viewed as
// [numel / last, last] (the last dim is the channel dim).
Quantized quantize(const Tensor& x, Format f, Layout l, ScaleRounding r = ScaleRounding::none,
                   const std::string& name = "x");

// Delayed scaling state: the amaxes of the last `length` steps (zeros at
// start). scale() uses the max of the history; update(amax) is called after
// the step that used the scale (pushes the newest, drops the oldest). Part of
// the checkpoint: values() (oldest first) and the constructor from values.
class AmaxHistory {
 public:
  explicit AmaxHistory(int64_t length);
  explicit AmaxHistory(std::vector<float> values);  // oldest first; non-empty

  int64_t length() const { return int64_t(hist_.size()); }
  float max_amax() const;
  // scale_from_amax(max_amax(), f, r): 1 while the history is all zero.
  float scale(Format f, ScaleRounding r = ScaleRounding::none) const;
  // amax must be finite and >= 0.
  void update(float amax);
  std::vector<float> values() const;  // oldest first

 private:
  std::vector<float> hist_;  // ring buffer
  int64_t head_ = 0;         // index of the oldest entry
};

}  // namespace moe::fp8
