#include "core/fp8/gemm.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace moe::fp8 {

void check_gemm(const Quantized& a, const Quantized& b, int64_t chunk) {
  const int64_t M = a.rows, K = a.cols, N = b.cols;
  MOE_CHECK(b.rows == K, "fp8 gemm: inner dims differ: A [", M, ", ", K, "] . B [", b.rows, ", ", N, "]");
  MOE_CHECK(chunk >= 1, "fp8 gemm: chunk must be >= 1, got ", chunk);
  MOE_CHECK(b.layout != Layout::tile_1x128,
            "fp8 gemm: B layout tile_1x128 varies along K inside a chunk; use per_tensor, block_128x128 or "
            "tile_128x1");
  MOE_CHECK(a.layout != Layout::tile_128x1,
            "fp8 gemm: A layout tile_128x1 varies along K inside a chunk; use per_tensor, tile_1x128 or "
            "block_128x128");
  const bool tiled = a.layout != Layout::per_tensor || b.layout != Layout::per_tensor;
  MOE_CHECK(!tiled || kTile % chunk == 0, "fp8 gemm: with layouts ", layout_name(a.layout), " x ",
            layout_name(b.layout), " the chunk must divide ", kTile, ", got ", chunk);
  MOE_CHECK(a.codes.size() == size_t(M * K) && b.codes.size() == size_t(K * N), "fp8 gemm: bad code buffers");
}

void inverse_b_scales(const Quantized& b, int64_t k0, float* inv_b) {
  for (int64_t n = 0; n < b.cols; ++n) inv_b[n] = 1.0f / b.scale_at(k0, n);
}

void promote(float* acc, const float* partial, float inv_a, const float* inv_b, int64_t n) {
  for (int64_t j = 0; j < n; ++j) acc[j] = std::fma(partial[j], inv_a * inv_b[j], acc[j]);
}

std::vector<float> gemm(const Quantized& a, const Quantized& b, int64_t chunk) {
  check_gemm(a, b, chunk);
  const int64_t M = a.rows, K = a.cols, N = b.cols;

  // FP8 values (exact in f32), without scales.
  const std::vector<float> fa = values(a), fb = values(b);

  std::vector<float> c(size_t(M * N), 0.0f);
  const int64_t nchunks = K == 0 ? 0 : (K + chunk - 1) / chunk;
  // Per chunk, the reciprocal of B's scale for each column n (B's scale is
  // constant over the chunk's K range).
  std::vector<float> inv_b(static_cast<size_t>(N));
  std::vector<float> partial(static_cast<size_t>(N));
#pragma omp parallel for schedule(static) firstprivate(inv_b, partial) if (M * N * K > (1 << 20))
  for (int64_t m = 0; m < M; ++m) {
    float* acc = c.data() + m * N;
    for (int64_t ci = 0; ci < nchunks; ++ci) {
      const int64_t k0 = ci * chunk, k1 = std::min(K, k0 + chunk);
      std::fill(partial.begin(), partial.end(), 0.0f);
      // partial[n] += fa[m,k] * fb[k,n], k increasing; per (m, n) the order is
      // exactly the documented one, the n loop only vectorises across columns.
      for (int64_t k = k0; k < k1; ++k) {
        const float av = fa[size_t(m * K + k)];
        const float* brow = fb.data() + k * N;
        for (int64_t n = 0; n < N; ++n) partial[size_t(n)] += av * brow[n];
      }
      inverse_b_scales(b, k0, inv_b.data());
      promote(acc, partial.data(), 1.0f / a.scale_at(m, k0), inv_b.data(), N);
    }
  }
  return c;
}

}  // namespace moe::fp8
