#pragma once
// Per-element and index formulas of the neural-network ops (rms_norm, rope,
// attention, dropout), shared by the CPU kernels and the CUDA kernels.
#include <cmath>
#include <cstdint>

#include "core/hd.h"
#include "core/random.h"

namespace moe::nn_math {

// ---- rms_norm ----
// 1 / sqrt(mean(x^2) + eps) of a row of length d with sum of squares sumsq.
template <typename T>
MOE_HD T rms_rstd(T sumsq, int64_t d, T eps) {
  return T(1) / std::sqrt(sumsq / T(d) + eps);
}
// dx_j = rstd * (g_j w_j - xhat_j * c), c = mean over the row of g w xhat.
template <typename T>
MOE_HD_INLINE T rms_dx(T g, T w, T xhat, T rstd, T c) {
  return rstd * (g * w - xhat * c);
}

// ---- rope ----
// theta_i = base^(-2i / rot_dim), in double so every backend agrees.
MOE_HD double rope_inv_freq(double base, int64_t i, int64_t rot_dim) {
  return std::pow(base, -2.0 * double(i) / double(rot_dim));
}
// (y0, y1) = (x0, x1) rotated by the angle with cosine c and sine s (the
// backward rotates by -angle: pass -s). Explicit fmas: left to contraction,
// a vectorised loop, its scalar tail and a GPU would each round differently.
template <typename T>
MOE_HD_INLINE void rope_rotate(T x0, T x1, T c, T s, T& y0, T& y1) {
  y0 = std::fma(x0, c, -(x1 * s));
  y1 = std::fma(x0, s, x1 * c);
}

// ---- attention ----
// Query head h of H reads kv head h / (H / hkv) (grouped-query attention).
MOE_HD int64_t gqa_kv_head(int64_t h, int64_t H, int64_t hkv) { return h / (H / hkv); }
// Causal keys of query i are [attn_key_begin, i]; window > 0 keeps only
// i - window < j.
MOE_HD int64_t attn_key_begin(int64_t i, int64_t window) {
  return window > 0 && i - window + 1 > 0 ? i - window + 1 : 0;
}

// ---- dropout ----
// An element is dropped when its Philox uniform is below p; `word` is its
// 32-bit Philox output (word i % 4 of block i / 4, see philox::uniform).
MOE_HD bool dropout_keep_word(uint32_t word, double p) { return double(philox::to_unit_float(word)) >= p; }
MOE_HD bool dropout_keep(uint64_t seed, uint64_t stream, uint64_t i, double p) {
  return double(philox::uniform(seed, stream, i)) >= p;
}
// Kept elements are divided by keep_prob = 1 - p.
template <typename T>
MOE_HD T dropout_apply(T x, bool keep, T keep_prob) {
  return keep ? x / keep_prob : T(0);
}

}  // namespace moe::nn_math
