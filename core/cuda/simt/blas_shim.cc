// cuda::blas::gemm under the SIMT shim: device memory is host memory, so the
// GEMM runs on the CPU's BLAS with exactly the arguments cuBLASLt would get
// (bf16 operands widened to f32 first, as the CPU's fallback path does).
#include <vector>

#include "core/cpu/gemm.h"
#include "core/cuda/blas.h"
#include "core/dtype_convert.h"

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

}  // namespace

void describe(const Gemm& g) { check(g); }

void gemm(const Gemm& g, cudaStream_t stream) {
  check(g);
  // Kernels queued on the stream come first, as on a GPU.
  MOE_CUDA_CHECK(cudaStreamSynchronize(stream));
  cpu::blas_single_thread();
  if (g.ab == DType::f64) {
    cpu::gemm_call(g.ta, g.tb, g.M, g.N, g.K, 1.0, static_cast<const double*>(g.A), g.lda,
                   static_cast<const double*>(g.B), g.ldb, 0.0, static_cast<double*>(g.C), g.ldc);
    return;
  }
  if (g.ab == DType::f32) {
    cpu::gemm_call(g.ta, g.tb, g.M, g.N, g.K, 1.0f, static_cast<const float*>(g.A), g.lda,
                   static_cast<const float*>(g.B), g.ldb, 0.0f, static_cast<float*>(g.C), g.ldc);
    return;
  }
  const std::vector<float> a = widen(g.A, g.ta ? g.K : g.M, g.ta ? g.M : g.K, g.lda);
  const std::vector<float> b = widen(g.B, g.tb ? g.N : g.K, g.tb ? g.K : g.N, g.ldb);
  cpu::gemm_call(g.ta, g.tb, g.M, g.N, g.K, 1.0f, a.data(), g.lda, b.data(), g.ldb, 0.0f, static_cast<float*>(g.C),
                 g.ldc);
}

}  // namespace moe::cuda::blas
