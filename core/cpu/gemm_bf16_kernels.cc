// Compiled with -mavx512f -mavx512bw -mavx512vl -mavx512bf16 (core/CMakeLists.txt).
// No inline functions of C++ library headers here: see gemm_bf16_kernels.h.
#include "core/cpu/gemm_bf16_kernels.h"

// GCC 12 reports its own _mm512_undefined_* temporaries in these intrinsics as
// maybe-uninitialized at -O3 (a false positive).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

namespace moe::cpu::bf16k {

namespace {

inline __mmask16 first(int64_t n) {
  return n >= 16 ? __mmask16(0xFFFF) : n <= 0 ? __mmask16(0) : __mmask16((1u << n) - 1u);
}

// 16 pair words from 32 consecutive K values (zero past K - k).
inline __m512i words_of_run(const float* x, int64_t left) {
  const __m512 lo = _mm512_maskz_loadu_ps(first(left), x);
  const __m512 hi = _mm512_maskz_loadu_ps(first(left - 16), x + 16);
  return (__m512i)_mm512_cvtne2ps_pbh(hi, lo);  // bf16 [lo..., hi...] = pairs in K order
}

}  // namespace

void convert_rows(const float* src, int64_t src_stride, int64_t lanes, int64_t K, uint32_t* dst,
                  int64_t dst_stride) {
  const int64_t Kp = (K + 1) / 2;
  for (int64_t l = 0; l < lanes; ++l) {
    const float* row = src + l * src_stride;
    uint32_t* out = dst + l * dst_stride;
    for (int64_t k = 0; k < K; k += 32)
      _mm512_mask_storeu_epi32(out + k / 2, first(Kp - k / 2), words_of_run(row + k, K - k));
  }
}

void pack_lanes_contiguous(const float* src, int64_t k_stride, int64_t lanes, int64_t K, int64_t width,
                           int64_t kp0, int64_t kp1, uint32_t* dst, int64_t panel_stride) {
  // Interleaves the bf16 of K row 2kp (lanes 0..15 in the low half of the
  // converted vector) with those of row 2kp + 1 (high half).
  const __m512i interleave = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7,
                                              22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
  const int64_t panels = (lanes + width - 1) / width;
  // One K pair's words for every lane (panels * width <= 64 lanes a chunk).
  constexpr int64_t kChunkLanes = 64;
  alignas(64) uint32_t row[kChunkLanes + 16];
  for (int64_t kp = kp0; kp < kp1; ++kp) {
    const float* r0 = src + 2 * kp * k_stride;
    const bool has_hi = 2 * kp + 1 < K;
    for (int64_t p0 = 0; p0 < panels;) {
      // A chunk of whole panels: at most kChunkLanes lanes (at least one panel).
      int64_t np = kChunkLanes / width;
      if (np < 1) np = 1;
      if (p0 + np > panels) np = panels - p0;
      const int64_t l0 = p0 * width, span = np * width;
      for (int64_t l = 0; l < span; l += 16) {
        const __mmask16 m = first(lanes - l0 - l);
        const __m512 lo = _mm512_maskz_loadu_ps(m, r0 + l0 + l);
        const __m512 hi = has_hi ? _mm512_maskz_loadu_ps(m, r0 + k_stride + l0 + l) : _mm512_setzero_ps();
        _mm512_store_si512(row + l, _mm512_permutexvar_epi16(interleave, (__m512i)_mm512_cvtne2ps_pbh(hi, lo)));
      }
      for (int64_t p = 0; p < np; ++p) {
        uint32_t* out = dst + (p0 + p) * panel_stride + kp * width;
        for (int64_t w = 0; w < width; w += 16)
          _mm512_mask_storeu_epi32(out + w, first(width - w), _mm512_loadu_si512(row + p * width + w));
      }
      p0 += np;
    }
  }
}

void pack_k_contiguous(const float* src, int64_t lane_stride, int64_t lanes, int64_t K, int64_t width,
                       uint32_t* dst) {
  // Through a lane-major block of 64 K-pairs on the stack (width <= 32 lanes:
  // 8 KiB), read back column by column once it is complete.
  constexpr int64_t kChunk = 64;
  alignas(64) uint32_t block[kNR * kChunk];
  const int64_t Kp = (K + 1) / 2;
  for (int64_t kp0 = 0; kp0 < Kp; kp0 += kChunk) {
    const int64_t n = Kp - kp0 < kChunk ? Kp - kp0 : kChunk;
    const int64_t k0 = 2 * kp0, kn = K - k0 < 2 * kChunk ? K - k0 : 2 * kChunk;
    convert_rows(src + k0, lane_stride, lanes, kn, block, kChunk);
    for (int64_t p = 0; p < n; ++p) {
      uint32_t* out = dst + (kp0 + p) * width;
      for (int64_t l = 0; l < width; ++l) out[l] = l < lanes ? block[l * kChunk + p] : 0u;
    }
  }
}

void micro_tile(int64_t Kp, const uint32_t* a, int64_t a_lane_stride, int64_t a_kp_stride, const uint32_t* b,
                float alpha, float* c, int64_t ldc, int64_t m, int64_t n) {
  static_assert(kMR == 12 && kNR == 32, "the register tile below is 12 x 2 zmm");
  __m512 acc[kMR][2];
#pragma GCC unroll 12
  for (int i = 0; i < kMR; ++i) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
  for (int64_t kp = 0; kp < Kp; ++kp) {
    const __m512bh b0 = (__m512bh)_mm512_loadu_si512(b + kp * kNR);
    const __m512bh b1 = (__m512bh)_mm512_loadu_si512(b + kp * kNR + 16);
    const uint32_t* ak = a + kp * a_kp_stride;
#pragma GCC unroll 12
    for (int i = 0; i < kMR; ++i) {
      const __m512bh ai = (__m512bh)_mm512_set1_epi32(int(ak[i * a_lane_stride]));
      acc[i][0] = _mm512_dpbf16_ps(acc[i][0], ai, b0);
      acc[i][1] = _mm512_dpbf16_ps(acc[i][1], ai, b1);
    }
  }
  const __m512 s = _mm512_set1_ps(alpha);
  const __mmask16 m0 = first(n), m1 = first(n - 16);
#pragma GCC unroll 12
  for (int i = 0; i < kMR; ++i) {
    if (i >= m) break;
    _mm512_mask_storeu_ps(c + i * ldc, m0, _mm512_mul_ps(acc[i][0], s));
    _mm512_mask_storeu_ps(c + i * ldc + 16, m1, _mm512_mul_ps(acc[i][1], s));
  }
}

}  // namespace moe::cpu::bf16k
