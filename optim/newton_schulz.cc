#include "optim/newton_schulz.h"

#include <cmath>

#include "core/autograd.h"
#include "core/error.h"
#include "core/ops.h"
#include "core/threading.h"
#include "optim/sum_squares.h"

namespace moe::optim {

namespace {

// A contiguous copy of m with every [R, C] matrix divided by its Frobenius
// norm (+ 1e-7, which keeps a zero matrix at zero).
Tensor normalised_copy(const Tensor& m) {
  if (!m.device().is_cpu()) {
    // On a GPU: the sum of squares in f64 (a fixed-order device reduction),
    // the scale rounded to f32 as on the CPU.
    const Tensor x64 = cast(m, DType::f64);
    const Tensor ss = sum(mul(x64, x64), {-2, -1}, true);
    const Tensor scale = cast(div(full({}, 1.0, DType::f64, m.device()), add(sqrt(ss), 1e-7)), DType::f32);
    return contiguous(mul(m, scale));
  }
  Tensor x = clone(m);
  const int64_t rows = m.size(-2), cols = m.size(-1);
  const int64_t per = rows * cols, count = x.numel() / std::max<int64_t>(per, 1);
  float* d = x.data<float>();
  for (int64_t e = 0; e < count; ++e) {
    float* mat = d + e * per;
    const float scale = float(1.0 / (std::sqrt(sum_squares(mat, per)) + 1e-7));
    parallel_for(per, 1 << 15, [&](int64_t b, int64_t end) {
      for (int64_t i = b; i < end; ++i) mat[i] *= scale;
    });
  }
  return x;
}

}  // namespace

Tensor newton_schulz(const Tensor& m, int64_t steps) {
  MOE_CHECK(m.defined() && m.dtype() == DType::f32 && (m.dim() == 2 || m.dim() == 3),
            "newton_schulz: needs an f32 [R, C] or [E, R, C] tensor, got ", m.defined() ? m.str() : "undefined");
  MOE_CHECK(steps >= 0, "newton_schulz: steps must be >= 0, got ", steps);
  NoGradGuard no_grad;
  const bool tall = m.size(-2) > m.size(-1);
  Tensor x = normalised_copy(m.detach());
  if (tall) x = transpose(x, -2, -1);  // a view: matmul reads it as a transpose
  for (int64_t s = 0; s < steps; ++s) {
    const Tensor a = matmul(x, transpose(x, -2, -1));
    const Tensor b = add(mul(a, kNsB), mul(matmul(a, a), kNsC));
    x = add(mul(x, kNsA), matmul(b, x));
  }
  if (tall) x = transpose(x, -2, -1);
  return contiguous(x);
}

}  // namespace moe::optim
