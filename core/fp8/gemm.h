#pragma once
// Emulated FP8 GEMM with DeepSeek-V3 promotion (issue 8), CPU reference.
//
//   C[M, N] = A[M, K] . B[K, N],  A and B quantised (fp8/scaling.h).
//
// Order of operations (a CUDA kernel must match it to be bit-identical):
//   for each (m, n):
//     acc = 0.0f
//     for each K chunk c = [c*NC, min(K, (c+1)*NC)), c increasing   (NC = chunk, default 128)
//       partial = 0.0f
//       for k in the chunk, k increasing:
//         partial = partial + fa[m,k] * fb[k,n]       // fa, fb: the FP8 values (no scale)
//       s   = (1.0f / sA(m, c)) * (1.0f / sB(c, n))   // f32: two reciprocals, one product
//       acc = fmaf(partial, s, acc)                   // fused: one rounding
//   C[m, n] = acc
// The product of two FP8 values (e4m3 and/or e5m2) is exact in f32 (<= 8
// significant bits, exponent well inside f32's range), so a fused or unfused
// in-chunk multiply-add gives the same bits; only the summation order and the
// promotion step matter. sA(m, c): the scale of A at row m for the chunk's
// K range; sB(c, n): the scale of B at column n for that K range.
//
// Layouts accepted: A [M, K]: per_tensor, tile_1x128 [per row, per 128 of K]
// or block_128x128. B [K, N]: per_tensor, block_128x128 or tile_128x1 [per
// column, per 128 of K] (the weight-gradient GEMM's dY). A layout whose scale
// varies along K inside a chunk (tile_128x1 on A, tile_1x128 on B) is
// refused: the promotion scheme applies one scale per chunk.
// With a non-per-tensor layout on either side the chunk must divide 128, so
// each chunk sits inside one scale tile; with per-tensor A and B any chunk
// >= 1 is allowed (chunk >= K: a single f32 accumulation, no promotion).
#include <cstdint>
#include <vector>

#include "core/fp8/scaling.h"

namespace moe::fp8 {

inline constexpr int64_t kPromotionInterval = 128;  // N_C of DeepSeek-V3

// Returns C row-major [A.rows, B.cols]. Throws moe::Error on a shape or
// layout mismatch.
std::vector<float> gemm(const Quantized& a, const Quantized& b, int64_t chunk = kPromotionInterval);

// The pieces every implementation of the order above shares (the training
// path, fp8/gemm_blas.h, uses them too):
// throws unless A . B with this chunk is a GEMM gemm() accepts;
void check_gemm(const Quantized& a, const Quantized& b, int64_t chunk);
// inv_b[n] = 1 / sB(chunk starting at k0, n) for n < b.cols;
void inverse_b_scales(const Quantized& b, int64_t k0, float* inv_b);
// the promotion of one chunk's partial sums of row m:
// acc[j] = fmaf(partial[j], inv_a * inv_b[j], acc[j]), inv_a = 1 / sA(m, k0).
void promote(float* acc, const float* partial, float inv_a, const float* inv_b, int64_t n);

}  // namespace moe::fp8
