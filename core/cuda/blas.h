#pragma once
// The one GEMM call of the CUDA backend: C = op(A) op(B), row-major, as the
// CPU's gemm_call takes it. Real builds run cuBLASLt (one handle and
// workspace per device and stream, the algorithm cached per shape); under
// the SIMT shim the same arguments go to the CPU's BLAS (core/cuda/simt/
// blas_shim.cc), so our use of transposes and leading dimensions is tested
// without a GPU.
#include <cstdint>
#include <vector>

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

// Many products of one dtype pair in one library call (the MoE experts):
// cuBLAS's grouped GEMM, one group per distinct (transposes, sizes, leading
// dimensions), so experts with different row counts need no padding.
// `pointers` is device memory for 3 * gs.size() pointers: the A, B and C
// arrays the library reads on the device are uploaded there on `stream`.
// Returns false, having launched nothing, when the library does not take
// the dtype pair (f64 always; a pair cuBLAS refuses, found on first use and
// reported once on stderr); the caller then runs gemm() per product.
bool gemm_grouped(const std::vector<Gemm>& gs, void* pointers, cudaStream_t stream);

// The arguments of that call in cuBLAS's column-major terms (row-major
// C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: the library's first
// operand is our B, m = N, n = M). Problems are ordered group by group.
struct GroupedCall {
  std::vector<char> trans_first, trans_second;  // 1: op T
  std::vector<int64_t> m, n, k, ld_first, ld_second, ldc, size;
  std::vector<const void*> first, second;
  std::vector<void*> out;
};
GroupedCall grouped_call(const std::vector<Gemm>& gs);

namespace detail {
// The library call itself, `pointers` already uploaded (cuBLAS in real
// builds, the CPU's BLAS reading the uploaded arrays under the shim).
bool launch_grouped(const GroupedCall& call, DType ab, DType c, const void* pointers, cudaStream_t stream);
}  // namespace detail

// Real builds: builds (and frees) every cuBLASLt descriptor gemm() would
// create for g, without a device; throws naming the call that failed.
void describe(const Gemm& g);

}  // namespace moe::cuda::blas
