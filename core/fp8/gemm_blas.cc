#include "core/fp8/gemm_blas.h"

#include <algorithm>
#include <vector>

#include "core/cpu/gemm.h"
#include "core/ops.h"

namespace moe::fp8 {

namespace {

// The FP8 values of q (no scales) as an f32 [rows, cols] tensor.
Tensor value_tensor(const Quantized& q) {
  Tensor t = empty({q.rows, q.cols});
  values(q, t.data<float>());
  return t;
}

}  // namespace

Tensor gemm_blas(const Quantized& a, const Quantized& b, int64_t chunk) {
  check_gemm(a, b, chunk);
  const int64_t M = a.rows, K = a.cols, N = b.cols;
  Tensor c = zeros({M, N});
  if (M == 0 || N == 0 || K == 0) return c;
  const Tensor fa = value_tensor(a), fb = value_tensor(b);
  Tensor partial = empty({M, N});
  std::vector<float> inv_b(static_cast<size_t>(N));
  float* acc = c.data<float>();
  const float* p = partial.data<float>();
  for (int64_t k0 = 0; k0 < K; k0 += chunk) {
    const int64_t kc = std::min(chunk, K - k0);
    // Column slices of fa and row slices of fb reach BLAS as strided operands
    // (no copies); the products of FP8 values are exact, so fp32 precision.
    cpu::matmul(narrow(fa, 1, k0, kc), narrow(fb, 0, k0, kc), partial, MatmulPrecision::fp32);
    inverse_b_scales(b, k0, inv_b.data());
#pragma omp parallel for schedule(static) if (M * N > (1 << 14))
    for (int64_t m = 0; m < M; ++m) promote(acc + m * N, p + m * N, 1.0f / a.scale_at(m, k0), inv_b.data(), N);
  }
  return c;
}

}  // namespace moe::fp8
