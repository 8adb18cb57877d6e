#include "optim/clip.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/autograd.h"
#include "core/error.h"
#include "core/ops.h"
#include "core/threading.h"
#include "optim/sum_squares.h"

namespace moe::optim {

namespace {

void check_grad(const Tensor& g) {
  MOE_CHECK(g.dtype() == DType::f32, "clip_grad_norm: needs f32 gradients, got ", g.str());
}

// Device gradients: each one's sum of squares in f64 by the fixed-order
// reduction of its device (one pass, no temporaries), all brought to the
// host in one copy.
double device_sq_norm(const std::vector<Tensor>& grads) {
  NoGradGuard no_grad;
  std::vector<Tensor> sums;
  for (const Tensor& g : grads) sums.push_back(reshape(sum_of_squares(g), {1}));
  double total = 0.0;
  for (double s : host_copy(cat(sums, 0)).to_vector()) total += s;  // in parameter order
  return total;
}

}  // namespace

double grad_sq_norm(const std::vector<Tensor>& params) {
  std::vector<Tensor> held;  // keeps contiguous copies alive
  for (const Tensor& p : params) {
    const Tensor g = p.grad();
    if (!g.defined()) continue;
    check_grad(g);
    MOE_CHECK(held.empty() || g.device() == held.front().device(), "clip_grad_norm: gradients on ",
              held.front().device(), " and ", g.str());
    held.push_back(g.is_contiguous() ? g : contiguous(g));
  }
  if (!held.empty() && !held.front().device().is_cpu()) return device_sq_norm(held);
  std::vector<FloatArray> arrays;
  for (const Tensor& g : held) arrays.push_back({g.data<float>(), g.numel()});
  double total = 0.0;
  for (double s : sum_squares_each(arrays)) total += s;  // in parameter order
  return total;
}

void scale_grads(const std::vector<Tensor>& params, double factor) {
  NoGradGuard no_grad;
  const float f = float(factor);
  // Contiguous gradients are scaled in place, in one parallel pass over
  // chunks of all of them (not one small region per parameter).
  struct Chunk {
    float* data;
    int64_t n;
  };
  constexpr int64_t kChunk = 1 << 15;
  std::vector<Chunk> chunks;
  for (Tensor p : params) {
    Tensor g = p.grad();
    if (!g.defined()) continue;
    check_grad(g);
    // A view may be a broadcast one: never write through it. Device
    // gradients get the same f32 product from the elementwise kernels.
    if (!g.is_contiguous() || !g.device().is_cpu()) {
      p.set_grad(mul(g, factor));
      continue;
    }
    for (int64_t b = 0; b < g.numel(); b += kChunk)
      chunks.push_back({g.data<float>() + b, std::min(kChunk, g.numel() - b)});
    g.bump_version();
  }
  parallel_for(int64_t(chunks.size()), 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c)
      for (int64_t i = 0; i < chunks[size_t(c)].n; ++i) chunks[size_t(c)].data[i] *= f;
  });
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
