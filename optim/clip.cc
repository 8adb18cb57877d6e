#include "optim/clip.h"

#include <cmath>

#include "core/autograd.h"
#include "core/error.h"
#include "core/ops.h"
#include "core/parallel.h"
#include "optim/sum_squares.h"

namespace moe::optim {

namespace {

void check_grad(const Tensor& g) {
  MOE_CHECK(g.dtype() == DType::f32 && g.device().is_cpu(), "clip_grad_norm: needs f32 CPU gradients, got ",
            g.str());
}

}  // namespace

double grad_sq_norm(const std::vector<Tensor>& params) {
  double total = 0.0;
  for (const Tensor& p : params) {
    const Tensor g = p.grad();
    if (!g.defined()) continue;
    check_grad(g);
    const Tensor c = g.is_contiguous() ? g : contiguous(g);
    total += sum_squares(c.data<float>(), c.numel());
  }
  return total;
}

void scale_grads(const std::vector<Tensor>& params, double factor) {
  NoGradGuard no_grad;
  const float f = float(factor);
  for (Tensor p : params) {
    Tensor g = p.grad();
    if (!g.defined()) continue;
    check_grad(g);
    if (!g.is_contiguous()) {  // may be a broadcast view: never write through it
      p.set_grad(mul(g, factor));
      continue;
    }
    float* d = g.data<float>();
    parallel_for(g.numel(), 1 << 15, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) d[i] *= f;
    });
    g.bump_version();
  }
}

double clip_factor(double norm, double max_norm) {
  return max_norm > 0 && std::isfinite(norm) && norm > max_norm ? max_norm / (norm + 1e-6) : 1.0;
}

double clip_grad_norm(const std::vector<Tensor>& params, double max_norm) {
  const double norm = std::sqrt(grad_sq_norm(params));
  if (const double f = clip_factor(norm, max_norm); f != 1.0) scale_grads(params, f);
  return norm;
}

}  // namespace moe::optim
