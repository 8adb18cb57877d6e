// cuda::blas::gemm under the SIMT shim: device memory is host memory, so the
// GEMM runs on the CPU's BLAS with exactly the arguments cuBLASLt would get
// (bf16 operands widened to f32 first, as the CPU's fallback path does).
// The grouped GEMM reads what cuBLAS would read: the uploaded pointer arrays
// and the column-major per-group arguments.
#include <cstring>
#include <vector>

#include "core/cpu/gemm.h"
#include "core/cuda/blas.h"
#include "core/dtype_convert.h"
#include "core/fp8/gemm_blas.h"

namespace moe::cuda::blas {
namespace {

// The [rows, cols] matrix with row stride ld, widened to f32 (same layout).
std::vector<float> widen(const void* p, int64_t rows, int64_t cols, int64_t ld) {
  std::vector<float> out(size_t(rows * ld), 0.0f);
  const uint16_t* b = static_cast<const uint16_t*>(p);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) out[size_t(r * ld + c)] = fp::bf16_to_f32(b[r * ld + c]);
  return out;
}

// Row-major C [M, N] = op(A) op(B) with the CPU's BLAS.
void row_major(bool ta, bool tb, int64_t M, int64_t N, int64_t K, DType ab, const void* A, int64_t lda,
               const void* B, int64_t ldb, void* C, int64_t ldc) {
  cpu::blas_single_thread();
  if (ab == DType::f64) {
    cpu::gemm_call(ta, tb, M, N, K, 1.0, static_cast<const double*>(A), lda, static_cast<const double*>(B), ldb, 0.0,
                   static_cast<double*>(C), ldc);
    return;
  }
  if (ab == DType::f32) {
    cpu::gemm_call(ta, tb, M, N, K, 1.0f, static_cast<const float*>(A), lda, static_cast<const float*>(B), ldb, 0.0f,
                   static_cast<float*>(C), ldc);
    return;
  }
  const std::vector<float> a = widen(A, ta ? K : M, ta ? M : K, lda);
  const std::vector<float> b = widen(B, tb ? N : K, tb ? K : N, ldb);
  cpu::gemm_call(ta, tb, M, N, K, 1.0f, a.data(), lda, b.data(), ldb, 0.0f, static_cast<float*>(C), ldc);
}

}  // namespace

namespace detail {

bool launch_grouped(const GroupedCall& call, DType ab, DType, const void* pointers, cudaStream_t stream) {
  MOE_CUDA_CHECK(cudaStreamSynchronize(stream));
  const size_t n = call.first.size();
  const void* const* arrays = static_cast<const void* const*>(pointers);
  size_t p = 0;
  for (size_t g = 0; g < call.size.size(); ++g)
    for (int64_t j = 0; j < call.size[g]; ++j, ++p) {
      // Column-major C (m x n, ldc) = op1(X) op2(Y) is row-major C^T [n, m] =
      // op2(Y)^T op1(X)^T, and a column-major matrix read row-major is its
      // transpose: the row-major product takes Y first.
      MOE_CHECK(p < n, "cuda grouped gemm: group sizes exceed the ", n, " products");
      row_major(call.trans_second[g] != 0, call.trans_first[g] != 0, call.n[g], call.m[g], call.k[g], ab,
                arrays[n + p], call.ld_second[g], arrays[p], call.ld_first[g], const_cast<void*>(arrays[2 * n + p]),
                call.ldc[g]);
    }
  MOE_CHECK(p == n, "cuda grouped gemm: group sizes cover ", p, " of ", n, " products");
  return true;
}

}  // namespace detail

void describe(const Gemm& g) { check(g); }

void gemm(const Gemm& g, cudaStream_t stream) {
  check(g);
  // Kernels queued on the stream come first, as on a GPU.
  MOE_CUDA_CHECK(cudaStreamSynchronize(stream));
  row_major(g.ta, g.tb, g.M, g.N, g.K, g.ab, g.A, g.lda, g.B, g.ldb, g.C, g.ldc);
}

void describe(const Fp8Gemm& g) { check(g); }

namespace {
// One operand's codes and scales as the emulation's Quantized ([rows, K]).
fp8::Quantized operand(const void* codes, const float* scales, DType t, fp8::Layout l, int64_t rows, int64_t K) {
  fp8::Quantized q;
  q.format = t == DType::f8e5m2 ? fp8::Format::e5m2 : fp8::Format::e4m3;
  q.layout = l;
  q.rows = rows;
  q.cols = K;
  const uint8_t* c = static_cast<const uint8_t*>(codes);
  q.codes.assign(c, c + rows * K);
  q.scales.assign(scales, scales + fp8::scale_rows(l, rows) * fp8::scale_cols(l, K));
  return q;
}
}  // namespace

void fp8_gemm(const Fp8Gemm& g, cudaStream_t stream) {
  check(g);
  MOE_CUDA_CHECK(cudaStreamSynchronize(stream));
  const fp8::Quantized a = operand(g.A, g.a_scales, g.a_type, g.a_layout, g.M, g.K);
  const fp8::Quantized b = fp8::transposed(operand(g.Bt, g.b_scales, g.b_type, g.b_layout, g.N, g.K));
  const Tensor c = fp8::gemm_blas(a, b, g.chunk);
  std::memcpy(g.C, c.data<float>(), size_t(g.M * g.N) * sizeof(float));
}

}  // namespace moe::cuda::blas
