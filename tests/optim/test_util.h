#pragma once
// Helpers shared by the optim tests.
#include <cstring>
#include <string>
#include <vector>

#include "core/ops.h"
#include "optim/optimizer.h"

namespace moe::optim::testing {

inline Tensor param(const std::vector<double>& v, const Shape& s) {
  Tensor t = from_vector(v, s);
  t.set_requires_grad(true);
  return t;
}

inline Tensor random_param(const Shape& s, uint64_t seed) {
  Tensor t = randn(s, seed);
  t.set_requires_grad(true);
  return t;
}

inline void set_grad(Tensor& p, const std::vector<double>& g) { p.set_grad(from_vector(g, p.shape())); }

inline std::vector<float> floats(const Tensor& t) {
  const Tensor c = t.contiguous();
  std::vector<float> out(size_t(c.numel()));
  std::memcpy(out.data(), c.data<float>(), out.size() * sizeof(float));
  return out;
}

// Bitwise equality of two tensors' bytes (same dtype and shape assumed).
inline bool same_bits(const Tensor& a, const Tensor& b) {
  const Tensor x = a.contiguous(), y = b.contiguous();
  return x.shape() == y.shape() && x.dtype() == y.dtype() &&
         std::memcmp(x.raw_data(), y.raw_data(), size_t(x.numel()) * dtype_size(x.dtype())) == 0;
}

// Deep copies of parameters (fresh leaves, same values, no grads).
inline std::vector<NamedParam> clone_params(const std::vector<NamedParam>& ps) {
  std::vector<NamedParam> out;
  for (const NamedParam& np : ps) {
    Tensor c = np.param.detach().clone();
    c.set_requires_grad(true);
    out.push_back({np.name, c});
  }
  return out;
}

}  // namespace moe::optim::testing
