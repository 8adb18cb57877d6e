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
#include "core/fp8/scaling.h"

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

// One FP8 GEMM, C [M, N] (f32, row-major) = A [M, K] . B [K, N], both
// operands K-major as Hopper's FP8 tensor cores take them (cuBLASLt's TN
// layout): A's codes row-major [M, K], B's as B^T row-major [N, K]. Scales
// are the quantisers' (x * s, core/fp8/scaling.h) in their layouts: A
// per_tensor or tile_1x128 ([M, ceil(K/128)]); B^T per_tensor, tile_1x128
// ([N, ceil(K/128)]) or block_128x128 ([ceil(N/128), ceil(K/128)]). Real
// builds run cuBLASLt with the reciprocals as its dequantisation scales
// (scalar, VEC128_32F or BLK128x128_32F modes) and its own promotion; under
// the shim the CPU emulation's product (fp8::gemm_blas, promotion every
// `chunk` of K) runs on the same arguments.
struct Fp8Gemm {
  int64_t M = 0, N = 0, K = 0;
  DType a_type = DType::f8e4m3, b_type = DType::f8e4m3;  // or f8e5m2
  fp8::Layout a_layout = fp8::Layout::per_tensor, b_layout = fp8::Layout::per_tensor;  // b: of B^T
  const void* A = nullptr;
  const void* Bt = nullptr;
  const float* a_scales = nullptr;
  const float* b_scales = nullptr;
  float* C = nullptr;
  int64_t chunk = 128;
};
// A layout or dtype this GEMM does not take, or an empty product: an error
// naming it.
void check(const Fp8Gemm& g);
void describe(const Fp8Gemm& g);  // as describe(Gemm), for the FP8 descriptors
void fp8_gemm(const Fp8Gemm& g, cudaStream_t stream);

}  // namespace moe::cuda::blas
