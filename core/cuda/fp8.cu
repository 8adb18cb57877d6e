// CUDA FP8 quantisers: amax, scale and cast of core/fp8/scaling.h's
// conventions, bit for bit the CPU emulation's (the scale arithmetic and
// layout index math are core/kernels/fp8_math.h, the cast is
// core/dtype_convert.h's, both shared with the CPU). Maxima are taken over
// |x|'s bit patterns as unsigned integers, which order as the values (NaN
// above inf): exact in any order, so the results do not depend on the
// launch shape. Nothing here waits for the device: an inf/NaN input leaves
// a non-finite amax that backend::fp8_check_finite turns into the CPU's
// error.
#include <cmath>

#include "core/cuda/blas.h"
#include "core/cuda/block_reduce.h"
#include "core/cuda/copy.h"
#include "core/cuda/fp8.h"
#include "core/cuda/launch.h"
#include "core/dtype_convert.h"
#include "core/kernels/fp8_math.h"
#include "core/ops.h"

namespace moe::cuda {
namespace {

constexpr uint32_t kInfBits = 0x7F800000u;
constexpr int kWarps = kBlock / 32;  // tiles per block of the tile kernel

MOE_HD uint32_t abs_bits(float x) { return fp::f32_bits(x) & 0x7FFFFFFFu; }

struct UMaxOp {
  MOE_HD uint32_t operator()(uint32_t a, uint32_t b) const { return a > b ? a : b; }
};

// A scale from an amax's bits: NaN when the amax is not finite (the codes
// are then meaningless and the check reports the input).
MOE_HD float scale_of(uint32_t amax_bits, float fmt_max, bool pow2) {
  return amax_bits < kInfBits ? fp8_math::scale_from_amax(fp::f32_from_bits(amax_bits), fmt_max, pow2)
                              : fp::f32_from_bits(0x7FC00000u);
}

// partial[block] = max |x| over the block's grid-stride share of x.
__global__ void amax_partial_kernel(const float* __restrict__ x, int64_t n, uint32_t* __restrict__ partial) {
  __shared__ uint32_t s[kBlock];
  uint32_t m = 0;
  MOE_GRID_STRIDE(i, n) m = UMaxOp()(m, abs_bits(x[i]));
  m = block_reduce(m, UMaxOp(), s);
  if (threadIdx.x == 0) partial[blockIdx.x] = m;
}

// One block: amax = max of the n partial maxima; with `scale` also the
// per-tensor scale.
__global__ void amax_final_kernel(const uint32_t* __restrict__ partial, int64_t n, float fmt_max, bool pow2,
                                  float* __restrict__ amax, float* __restrict__ scale) {
  __shared__ uint32_t s[kBlock];
  uint32_t m = 0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) m = UMaxOp()(m, partial[i]);
  m = block_reduce(m, UMaxOp(), s);
  if (threadIdx.x == 0) {
    *amax = fp::f32_from_bits(m);
    if (scale) *scale = scale_of(m, fmt_max, pow2);
  }
}

// One warp per tile of the scale grid [sr, sc]: the tile's amax (into
// tile_bits, row-major) and scale (into scales, the grid transposed when
// `transpose`). Lanes read the tile row-major, so a 1 x 128 tile is four
// coalesced 128-byte reads.
__global__ void tile_amax_kernel(const float* __restrict__ x, int64_t rows, int64_t cols, int layout, float fmt_max,
                                 bool pow2, bool transpose, int64_t sr, int64_t sc, uint32_t* __restrict__ tile_bits,
                                 float* __restrict__ scales) {
  const int lane = int(threadIdx.x) % 32, warp = int(threadIdx.x) / 32;
  const int64_t th = fp8_math::tile_rows(layout, rows), tw = fp8_math::tile_cols(layout, cols);
  for (int64_t t = int64_t(blockIdx.x) * kWarps + warp; t < sr * sc; t += int64_t(gridDim.x) * kWarps) {
    const int64_t ti = t / sc, tj = t % sc, r0 = ti * th, c0 = tj * tw;
    const int64_t h = rows - r0 < th ? rows - r0 : th, w = cols - c0 < tw ? cols - c0 : tw;
    uint32_t m = 0;
    for (int64_t e = lane; e < h * w; e += 32) m = UMaxOp()(m, abs_bits(x[(r0 + e / w) * cols + c0 + e % w]));
    for (int o = 16; o > 0; o >>= 1) m = UMaxOp()(m, __shfl_xor_sync(0xffffffffu, m, o));
    if (lane == 0) {
      tile_bits[t] = m;
      scales[transpose ? tj * sr + ti : t] = scale_of(m, fmt_max, pow2);
    }
  }
}

// codes[i] = cast(x[i] * scale of its tile), at [c, r] when `transpose`.
template <bool kE4m3>
__global__ void codes_kernel(const float* __restrict__ x, int64_t rows, int64_t cols, int layout,
                             const float* __restrict__ scales, int64_t sr, int64_t sc, bool transpose,
                             uint8_t* __restrict__ codes) {
  const int64_t th = fp8_math::tile_rows(layout, 1), tw = fp8_math::tile_cols(layout, 1);
  MOE_GRID_STRIDE(i, rows * cols) {
    const int64_t r = i / cols, c = i % cols;
    const int64_t ri = layout == fp8_math::per_tensor ? 0 : r / th, ci = layout == fp8_math::per_tensor ? 0 : c / tw;
    const float v = x[i] * scales[transpose ? ci * sr + ri : ri * sc + ci];
    codes[transpose ? c * rows + r : i] = kE4m3 ? fp::f32_to_e4m3(v, true) : fp::f32_to_e5m2(v, true);
  }
}

fp8::QuantizedTensor prepare(const Tensor& x, fp8::Format f, fp8::Layout l, bool transpose, int64_t& rows,
                             int64_t& cols) {
  cols = x.size(x.dim() - 1);
  rows = cols == 0 ? 0 : x.numel() / cols;
  fp8::QuantizedTensor q;
  q.format = f;
  q.layout = transpose && l == fp8::Layout::tile_1x128   ? fp8::Layout::tile_128x1
             : transpose && l == fp8::Layout::tile_128x1 ? fp8::Layout::tile_1x128
                                                         : l;
  q.rows = transpose ? cols : rows;
  q.cols = transpose ? rows : cols;
  const int64_t cells = fp8::scale_rows(l, rows) * fp8::scale_cols(l, cols);
  q.codes = empty({q.rows, q.cols}, f == fp8::Format::e4m3 ? DType::f8e4m3 : DType::f8e5m2, x.device());
  q.scales = full({cells > 0 ? cells : 1}, 1.0, DType::f32, x.device());
  q.amax = zeros({1}, DType::f32, x.device());
  return q;
}

// The per-tensor amax of x into q.amax, and with `with_scale` its scale into q.scales.
void tensor_amax(const Tensor& x, int64_t n, float fmt_max, bool pow2, bool with_scale,
                 const fp8::QuantizedTensor& q) {
  const unsigned blocks = grid_stride_blocks(n, kBlock);
  const Tensor partial = empty({int64_t(blocks)}, DType::i32, x.device());
  uint32_t* pp = reinterpret_cast<uint32_t*>(partial.device_data<int32_t>());
  MOE_LAUNCH(amax_partial_kernel, blocks, kBlock, 0, current_stream())(x.device_data<float>(), n, pp);
  MOE_LAUNCH(amax_final_kernel, 1, kBlock, 0, current_stream())(
      pp, int64_t(blocks), fmt_max, pow2, q.amax.device_data<float>(),
      with_scale ? q.scales.device_data<float>() : nullptr);
}

void launch_codes(const Tensor& x, int64_t rows, int64_t cols, fp8::Format f, fp8::Layout l, bool transpose,
                  const fp8::QuantizedTensor& q) {
  const int64_t sr = fp8::scale_rows(l, rows), sc = fp8::scale_cols(l, cols), n = rows * cols;
  auto* kern = f == fp8::Format::e4m3 ? &codes_kernel<true> : &codes_kernel<false>;
  MOE_LAUNCH(kern, grid_stride_blocks(n, kBlock), kBlock, 0, current_stream())(
      x.device_data<float>(), rows, cols, int(l), q.scales.device_data<float>(), sr, sc, transpose,
      q.codes.device_data<uint8_t>());
}

}  // namespace

fp8::QuantizedTensor fp8_quantize(const Tensor& x, fp8::Format f, fp8::Layout l, fp8::ScaleRounding r,
                                  bool transpose) {
  DeviceGuard on(x);
  int64_t rows = 0, cols = 0;
  fp8::QuantizedTensor q = prepare(x, f, l, transpose, rows, cols);
  const int64_t n = rows * cols;
  if (n == 0) return q;
  const float fmt_max = fp8::format_max(f);
  const bool pow2 = r == fp8::ScaleRounding::pow2_down;
  if (l == fp8::Layout::per_tensor) {
    tensor_amax(x, n, fmt_max, pow2, true, q);
  } else {
    const int64_t sr = fp8::scale_rows(l, rows), sc = fp8::scale_cols(l, cols), tiles = sr * sc;
    const Tensor bits = empty({tiles}, DType::i32, x.device());
    uint32_t* bp = reinterpret_cast<uint32_t*>(bits.device_data<int32_t>());
    const unsigned blocks = unsigned(std::min<int64_t>((tiles + kWarps - 1) / kWarps, 65535));
    MOE_LAUNCH(tile_amax_kernel, blocks, kBlock, 0, current_stream())(
        x.device_data<float>(), rows, cols, int(l), fmt_max, pow2, transpose, sr, sc, bp,
        q.scales.device_data<float>());
    MOE_LAUNCH(amax_final_kernel, 1, kBlock, 0, current_stream())(bp, tiles, fmt_max, pow2,
                                                                  q.amax.device_data<float>(), nullptr);
  }
  launch_codes(x, rows, cols, f, l, transpose, q);
  MOE_CUDA_CHECK(cudaGetLastError());
  return q;
}

fp8::QuantizedTensor fp8_quantize_with_scale(const Tensor& x, fp8::Format f, float scale, bool transpose) {
  DeviceGuard on(x);
  int64_t rows = 0, cols = 0;
  fp8::QuantizedTensor q = prepare(x, f, fp8::Layout::per_tensor, transpose, rows, cols);
  fill(q.scales, scale);
  const int64_t n = rows * cols;
  if (n == 0) return q;
  tensor_amax(x, n, fp8::format_max(f), false, false, q);
  launch_codes(x, rows, cols, f, fp8::Layout::per_tensor, transpose, q);
  MOE_CUDA_CHECK(cudaGetLastError());
  return q;
}

namespace {

// One operand of a linear's GEMM on the device, quantised as the CPU's
// fp8::quantize_role does (core/fp8/linear.cc): `tile` under the tile-wise
// recipe, else one scale (delayed: from the state, whose amax record reads
// the device's amax). `transpose`: the operand's codes K-major.
fp8::QuantizedTensor quantize_role(const Tensor& t, fp8::Role role, fp8::Layout tile, const fp8::GemmRecipe& r,
                                   const fp8::ScaleSource& s, bool transpose) {
  MOE_CHECK(t.dim() == 2 && t.dtype() == DType::f32 && t.is_contiguous(),
            "fp8 linear: operands must be contiguous 2-D f32 tensors, got ", t.str());
  if (r.scaling == fp8::Scaling::tilewise)
    return fp8_quantize(t, fp8::Format::e4m3, tile, r.rounding, transpose);
  const fp8::Format f = role == fp8::Role::dy ? r.grad_format : fp8::Format::e4m3;
  if (r.scaling == fp8::Scaling::per_tensor_current)
    return fp8_quantize(t, f, fp8::Layout::per_tensor, r.rounding, transpose);
  MOE_CHECK(s.state != nullptr, "fp8 linear: per_tensor_delayed scaling needs its DelayedScaling state");
  fp8::QuantizedTensor q = fp8_quantize_with_scale(t, f, s.state->scale(s.group, role, f, r.rounding), transpose);
  if (s.record) s.state->record(s.group, role, float(q.amax.item()));
  return q;
}

// C [a.rows, bt.rows] = a . bt^T, both K-major.
Tensor product(const fp8::QuantizedTensor& a, const fp8::QuantizedTensor& bt, const fp8::GemmRecipe& r) {
  MOE_CHECK(a.cols == bt.cols, "fp8 linear: K of A (", a.cols, ") and of B^T (", bt.cols, ") differ");
  const Tensor c = zeros({a.rows, bt.rows}, DType::f32, a.codes.device());
  if (a.rows == 0 || bt.rows == 0 || a.cols == 0) return c;
  blas::Fp8Gemm g;
  g.M = a.rows, g.N = bt.rows, g.K = a.cols;
  g.a_type = a.codes.dtype(), g.b_type = bt.codes.dtype();
  g.a_layout = a.layout, g.b_layout = bt.layout;
  g.A = a.codes.device_data<uint8_t>(), g.Bt = bt.codes.device_data<uint8_t>();
  g.a_scales = a.scales.device_data<float>(), g.b_scales = bt.scales.device_data<float>();
  g.C = c.device_data<float>();
  g.chunk = r.chunk;
  blas::fp8_gemm(g, current_stream());
  return c;
}

}  // namespace

// y = x w: A = x [M, K] in 1x128 tiles, B^T = w^T [N, K] (w's 128x128 blocks, transposed).
Tensor fp8_fprop(const Tensor& x, const Tensor& w, const fp8::GemmRecipe& r, const fp8::ScaleSource& s) {
  DeviceGuard on(x);
  return product(quantize_role(x, fp8::Role::x, fp8::Layout::tile_1x128, r, s, false),
                 quantize_role(w, fp8::Role::w, fp8::Layout::block_128x128, r, s, true), r);
}

// The same with A = the given codes.
Tensor fp8_fprop_codes(const fp8::QuantizedTensor& xq, const Tensor& w, const fp8::GemmRecipe& r,
                       const fp8::ScaleSource& s) {
  DeviceGuard on(w);
  return product(xq, quantize_role(w, fp8::Role::w, fp8::Layout::block_128x128, r, s, true), r);
}

// dx = dy w^T: A = dy [M, N] in 1x128 tiles, B^T = w [K, N] itself.
Tensor fp8_dgrad(const Tensor& dy, const Tensor& w, const fp8::GemmRecipe& r, const fp8::ScaleSource& s) {
  DeviceGuard on(dy);
  return product(quantize_role(dy, fp8::Role::dy, fp8::Layout::tile_1x128, r, s, false),
                 quantize_role(w, fp8::Role::w, fp8::Layout::block_128x128, r, s, false), r);
}

// dw = x^T dy, K = the tokens: A = x^T and B^T = dy^T, each quantised in
// 128x1 tiles along the tokens and written transposed.
Tensor fp8_wgrad(const Tensor& x, const Tensor& dy, const fp8::GemmRecipe& r, const fp8::ScaleSource& s) {
  DeviceGuard on(x);
  return product(quantize_role(x, fp8::Role::x, fp8::Layout::tile_128x1, r, s, true),
                 quantize_role(dy, fp8::Role::dy, fp8::Layout::tile_128x1, r, s, true), r);
}

}  // namespace moe::cuda
