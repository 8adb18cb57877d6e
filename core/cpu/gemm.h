#pragma once
// Matrix products through OpenBLAS (cblas_sgemm / cblas_dgemm).
#include <cstdint>
#include <optional>
#include <vector>

#include "core/backend/gemm.h"
#include "core/matmul_precision.h"
#include "core/tensor.h"

namespace moe::cpu {

using backend::BlasLayout;
using backend::blas_layout;

// out [batch..., M, N] (contiguous) = a [..., M, K] @ b [..., K, N], f32 or
// f64, with the batch dims of a and b broadcast to out's. Operands with a
// BlasLayout go to BLAS as they are (per-batch pointers from their batch
// strides); the others are copied first. The product runs as single-threaded
// BLAS calls on tiles fixed by the shapes, spread over our threads: results
// are bitwise the same whatever the thread count. With bf16 precision (f32
// operands only) the operands are rounded to bfloat16 first: by the AVX-512
// BF16 kernels of cpu/gemm_bf16.h where the CPU has them, else by rounding
// into f32 copies for the f32 path.
void matmul(const Tensor& a, const Tensor& b, const Tensor& out, MatmulPrecision precision = MatmulPrecision::fp32);

// out = a @ b for each job (2-D f32/f64 operands, out contiguous rows): a
// grouped product's groups, e.g. MoE experts. With bf16 precision on the
// AVX-512 BF16 kernels they run as one batch (gemm_bf16_batch: one packing
// and one tile pass for all, balanced by work); otherwise, or when an operand
// would need a copy, one matmul each. Bitwise the same as one matmul each.
using MatmulJob = backend::MatmulJob;
void matmul_each(const std::vector<MatmulJob>& jobs, MatmulPrecision precision);

// One single-threaded BLAS call, row-major: C = alpha op(A) op(B) + beta C
// (OpenBLAS is kept at one thread by our ops; callers thread over calls).
void gemm_call(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
               const float* B, int64_t ldb, float beta, float* C, int64_t ldc);
void gemm_call(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha, const double* A, int64_t lda,
               const double* B, int64_t ldb, double beta, double* C, int64_t ldc);
// Pins OpenBLAS to one thread (idempotent; done before any of our calls).
void blas_single_thread();

// Operand copies made by matmul since the start of the process (for tests:
// transposed views must not add to it).
int64_t matmul_operand_copies();

}  // namespace moe::cpu
