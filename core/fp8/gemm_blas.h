#pragma once
// The FP8 GEMM of the training path (issue 8): gemm() (fp8/gemm.h) at BLAS
// speed.
//
// Per K chunk, one f32 GEMM (cpu::matmul, OpenBLAS, fp32 precision) of the
// unscaled FP8 values, then the chunk's partial sums are promoted into the
// f32 accumulator exactly as gemm() does (fp8::promote: acc = fmaf(partial,
// (1/sA)*(1/sB), acc), chunks in increasing order). Products of FP8 values
// are exact in f32, so the one difference from gemm() is the order in which
// BLAS sums a chunk's products (and what that does to the roundings of the
// promotions after it): per element
//   |C - gemm()| <= 2 (chunk + K / chunk) eps sum_k |a'_k b'_k| / (sA sB)
// (eps = 2^-24, a', b' the FP8 values; tests/core/test_fp8_linear.cc pins it). Bitwise the same for
// any thread count (cpu::matmul's fixed tiles).
#include "core/fp8/gemm.h"
#include "core/tensor.h"

namespace moe::fp8 {

// C [A.rows, B.cols] f32, contiguous. Same layout rules as gemm().
Tensor gemm_blas(const Quantized& a, const Quantized& b, int64_t chunk = kPromotionInterval);

}  // namespace moe::fp8
