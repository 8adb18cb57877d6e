#pragma once
// GEMM family: batched matrix products and grouped products (MoE experts).
// Kernels: core/cpu/gemm.h (OpenBLAS, our BF16 kernels), core/cuda/gemm.h.
#include <optional>
#include <vector>

#include "core/matmul_precision.h"
#include "core/tensor.h"

namespace moe::backend {

// How BLAS reads the last two dims [rows, cols] of a strided tensor without a
// copy: row-major (trans = false, ld = row stride) or column-major, i.e. a
// transposed view (trans = true, ld = column stride).
struct BlasLayout {
  bool trans = false;
  int64_t ld = 1;
};
// nullopt when the last two dims are neither row- nor column-major (e.g.
// stride 0 from expand, or a step slice): such an operand must be copied.
std::optional<BlasLayout> blas_layout(const Tensor& t);
// Strides of t's batch dims (all but the last two) broadcast to `batch`.
Shape batch_strides(const Tensor& t, const Shape& batch);

// out [batch..., M, N] (contiguous) = a [..., M, K] @ b [..., K, N], f32 or
// f64, the batch dims of a and b broadcast to out's; a and b may be
// transposed views. bf16 precision (f32 operands only): operands rounded to
// bfloat16, products summed in f32.
void matmul(const Tensor& a, const Tensor& b, const Tensor& out, MatmulPrecision precision);

// out = a @ b for each job (2-D f32/f64 operands, out contiguous rows, every
// job on one device): a grouped product's groups. On the CPU each out is
// bitwise what one matmul gives for it alone; on CUDA the jobs are one
// grouped library call, whose kernels may sum in another order. The group
// sizes are host values by then (cuBLAS's grouped GEMM takes them on the
// host too).
struct MatmulJob {
  Tensor a, b, out;
};
void matmul_each(const std::vector<MatmulJob>& jobs, MatmulPrecision precision);

}  // namespace moe::backend
