#pragma once
// Finite-difference gradient check of a scalar function of some leaf tensors
// (f64): compares each element's autograd gradient with the central
// difference (L(x+h) - L(x-h)) / 2h, relative error |a-n| / max(|a|,|n|,1e-2).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "core/autograd.h"
#include "core/ops.h"

namespace moe::test {

// Returns the largest relative error over every element of every tensor in
// `leaves` (checks at most max_per_tensor evenly spaced elements of each).
inline double max_grad_error(const std::function<Tensor()>& loss, const std::vector<Tensor>& leaves,
                             int64_t max_per_tensor = 40, double h = 1e-6) {
  for (Tensor t : leaves) t.zero_grad();
  loss().backward();
  double worst = 0;
  for (const Tensor& t : leaves) {
    const Tensor g = t.grad();
    const int64_t n = t.numel(), step = std::max<int64_t>(1, n / max_per_tensor);
    for (int64_t i = 0; i < n; i += step) {
      double* p = t.data<double>() + i;
      const double orig = *p;
      double lp, lm;
      {
        NoGradGuard ng;
        *p = orig + h;
        lp = loss().item();
        *p = orig - h;
        lm = loss().item();
        *p = orig;
      }
      const double num = (lp - lm) / (2 * h);
      const double ana = g.defined() ? g.data<double>()[i] : 0.0;
      const double err = std::fabs(ana - num) / std::max({std::fabs(ana), std::fabs(num), 1e-2});
      worst = std::max(worst, err);
    }
  }
  return worst;
}

}  // namespace moe::test
