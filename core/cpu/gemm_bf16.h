#pragma once
// The bf16 matrix product of MatmulPrecision::bf16: operands rounded to
// bfloat16 (nearest even), products summed in f32. On CPUs with AVX-512 BF16
// it runs our own packed VDPBF16PS kernel (twice the FMA rate of f32); else
// cpu::matmul rounds the operands into f32 copies and uses the f32 path.
#include <cstdint>
#include <vector>

namespace moe::cpu {

// True when this CPU has AVX-512 BF16 and the kernels are not switched off
// (use_bf16_kernels(false), or MOE_BF16_KERNELS=0 in the environment).
bool bf16_kernels_enabled();
// Tests: switch the kernels off (true is ignored on a CPU without them).
// Returns the previous setting.
bool use_bf16_kernels(bool on);

// C[M, N] = alpha * bf16(op(A)) . bf16(op(B)), row-major, C overwritten;
// op(A) = A^T when ta (A stored [K, M]), op(B) = B^T when tb (B stored [N, K]).
// Multi-threaded over output tiles fixed by the shape, each output element
// summed by one thread in increasing K-pair order (within a pair VDPBF16PS
// adds the K = 2kp + 1 product before the 2kp one): bitwise the same for any
// thread count. Requires bf16_kernels_enabled().
void gemm_bf16(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
               const float* B, int64_t ldb, float* C, int64_t ldc);

// One product of a batch: C[M, N] = bf16(op(A)) . bf16(op(B)), as gemm_bf16.
struct Bf16Gemm {
  bool ta = false, tb = false;
  int64_t M = 0, N = 0, K = 0;
  const float* A = nullptr;
  int64_t lda = 0;
  const float* B = nullptr;
  int64_t ldb = 0;
  float* C = nullptr;
  int64_t ldc = 0;
};
// Every product of `jobs` in one packing pass and one tile pass over all of
// them, the tiles split over threads by work (K pairs), not by count: a
// grouped product's many small ones (MoE experts) no longer each pay two
// parallel regions and their imbalance. Each C is bitwise what gemm_bf16
// gives for it alone.
void gemm_bf16_batch(const std::vector<Bf16Gemm>& jobs, float alpha);

}  // namespace moe::cpu
