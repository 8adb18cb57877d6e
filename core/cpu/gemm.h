#pragma once
// Matrix products through OpenBLAS (cblas_sgemm / cblas_dgemm).
#include <cstdint>
#include <optional>

#include "core/tensor.h"

namespace moe::cpu {

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

// out [batch..., M, N] (contiguous) = a [..., M, K] @ b [..., K, N], f32 or
// f64, with the batch dims of a and b broadcast to out's. Operands with a
// BlasLayout go to BLAS as they are (per-batch pointers from their batch
// strides); the others are copied first. The product runs as single-threaded
// BLAS calls on tiles fixed by the shapes, spread over our threads: results
// are bitwise the same whatever the thread count.
void matmul(const Tensor& a, const Tensor& b, const Tensor& out);

// Operand copies made by matmul since the start of the process (for tests:
// transposed views must not add to it).
int64_t matmul_operand_copies();

}  // namespace moe::cpu
