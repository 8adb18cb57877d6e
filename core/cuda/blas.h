#pragma once
// The one GEMM call of the CUDA backend: C = op(A) op(B), row-major, as the
// CPU's gemm_call takes it. Real builds run cuBLASLt (one handle and
// workspace per device and thread, the algorithm cached per shape); under
// the SIMT shim the same arguments go to the CPU's BLAS (core/cuda/simt/
// blas_shim.cc), so our use of transposes and leading dimensions is tested
// without a GPU.
#include <cstdint>

#include "core/cuda/runtime.h"
#include "core/dtype.h"

namespace moe::cuda::blas {

// A and B share a dtype: f32, f64 or bf16 (then C is f32, products summed in
// f32); otherwise C has their dtype. Every size > 0.
struct Gemm {
  bool ta = false, tb = false;
  int64_t M = 0, N = 0, K = 0;
  DType ab = DType::f32, c = DType::f32;
  const void* A = nullptr;
  int64_t lda = 0;
  const void* B = nullptr;
  int64_t ldb = 0;
  void* C = nullptr;
  int64_t ldc = 0;
};

// An unsupported dtype pair or a leading dimension too small for its
// matrix: an error naming the GEMM.
void check(const Gemm& g);
void gemm(const Gemm& g, cudaStream_t stream);

// Real builds: builds (and frees) every cuBLASLt descriptor gemm() would
// create for g, without a device; throws naming the call that failed.
void describe(const Gemm& g);

}  // namespace moe::cuda::blas
