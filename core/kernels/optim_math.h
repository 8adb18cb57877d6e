#pragma once
// Per-element formulas of the fused optimizer updates, shared by the CPU
// loop and the CUDA kernel: both do the same f32 arithmetic. Moments are
// stored as f32 or bf16 (optim/moments.h says why); a load widens to f32, a
// store rounds to nearest even.
#include <cmath>
#include <cstdint>

#include "core/dtype.h"
#include "core/dtype_convert.h"
#include "core/hd.h"

namespace moe::optim_math {

// The per-step constants of one parameter's AdamW update, folded in double
// and rounded once to f32 so the element loop is pure f32 arithmetic.
struct AdamWScalars {
  float decay;         // 1 - lr * wd
  float beta1, one_minus_beta1;
  float beta2, one_minus_beta2;
  float step_size;     // lr / (1 - b1^t)
  float inv_sqrt_bc2;  // 1 / sqrt(1 - b2^t)
  float eps;
};

// Folds one parameter's AdamW hyper-parameters at step t (1-based) into
// the constants above (host side).
inline AdamWScalars adamw_scalars(double lr, double beta1, double beta2, double eps,
                                  double weight_decay, int64_t t) {
  const double bc1 = 1.0 - std::pow(beta1, double(t));
  const double bc2 = 1.0 - std::pow(beta2, double(t));
  return {float(1.0 - lr * weight_decay), float(beta1), float(1.0 - beta1), float(beta2),
          float(1.0 - beta2),             float(lr / bc1), float(1.0 / std::sqrt(bc2)), float(eps)};
}

MOE_HD_INLINE float load_moment(float m) { return m; }
MOE_HD_INLINE float load_moment(bf16_t m) { return fp::bf16_to_f32(m.bits); }
MOE_HD_INLINE void store_moment(float& m, float v) { m = v; }
MOE_HD_INLINE void store_moment(bf16_t& m, float v) { m.bits = fp::f32_to_bf16(v); }

// One element of decoupled-weight-decay Adam (Loshchilov & Hutter). Every
// multiply-add is an explicit fma: left to contraction, the CPU loop, its
// vector tail, an -O1 sanitizer build and a GPU would each round differently.
template <typename M>
MOE_HD_INLINE void adamw_element(float& p, float g, M& m, M& v, const AdamWScalars& s) {
  const float mi = std::fma(s.beta1, load_moment(m), s.one_minus_beta1 * g);
  const float vi = std::fma(s.beta2, load_moment(v), (s.one_minus_beta2 * g) * g);
  store_moment(m, mi);
  store_moment(v, vi);
  const float denom = std::fma(std::sqrt(vi), s.inv_sqrt_bc2, s.eps);
  p = std::fma(p, s.decay, -(s.step_size * mi / denom));
}

}  // namespace moe::optim_math
