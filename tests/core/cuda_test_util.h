#pragma once
// Helpers of the CUDA kernel tests (tests/core/test_cuda_*.cc): GPU results
// against the CPU backend's, bit for bit or within a few ulp.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "core/cuda/runtime.h"
#include "core/ops.h"

namespace moe::cuda_test {

#define MOE_REQUIRE_DEVICE() \
  if (cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device"

inline const Device kGpu = Device::cuda(0);

// Values that exercise the formulas: signs, zero, large magnitudes where exp
// overflows, and ordinary ones.
inline Tensor sample(const Shape& s, uint64_t seed, DType t = DType::f32) {
  Tensor x = randn(s, seed, 0, DType::f64);
  Tensor big = mul(x, full({}, 40.0, DType::f64));
  std::vector<double> v(size_t(x.numel()));
  const double* px = x.data<double>();
  const double* pb = big.data<double>();
  for (size_t i = 0; i < v.size(); ++i) v[i] = i % 7 == 3 ? pb[i] : (i % 11 == 5 ? 0.0 : px[i]);
  return from_vector(v, s, t);
}

inline std::vector<double> values(const Tensor& t) {
  const Tensor h = host_copy(t).to(DType::f64).contiguous();
  const double* p = h.data<double>();
  return std::vector<double>(p, p + h.numel());
}

// Both tensors' bytes equal (same dtype and shape, read contiguous on the host).
inline void expect_bitwise(const Tensor& cpu, const Tensor& gpu, const std::string& what) {
  ASSERT_TRUE(gpu.device().is_cuda()) << what;
  const Tensor a = cpu.contiguous(), b = host_copy(gpu).contiguous();
  ASSERT_EQ(a.shape(), b.shape()) << what;
  ASSERT_EQ(a.dtype(), b.dtype()) << what;
  const size_t bytes = size_t(a.numel()) * dtype_size(a.dtype());
  if (bytes == 0 || std::memcmp(a.raw_data(), b.raw_data(), bytes) == 0) return;
  const std::vector<double> va = values(a), vb = values(b);
  for (size_t i = 0; i < va.size(); ++i)
    if (std::memcmp(&va[i], &vb[i], sizeof(double)) != 0) {
      ADD_FAILURE() << what << ": element " << i << " is " << vb[i] << " on the GPU, " << va[i] << " on the CPU";
      return;
    }
}

inline void expect_ulps(const Tensor& cpu, const Tensor& gpu, double ulps, const std::string& what) {
  const std::vector<double> va = values(cpu), vb = values(gpu);
  ASSERT_EQ(va.size(), vb.size()) << what;
  const double eps = cpu.dtype() == DType::f32 ? std::numeric_limits<float>::epsilon()
                                               : std::numeric_limits<double>::epsilon();
  for (size_t i = 0; i < va.size(); ++i) {
    if (std::isnan(va[i]) && std::isnan(vb[i])) continue;
    if (va[i] == vb[i]) continue;
    const double tol = ulps * eps * std::max(std::abs(va[i]), 1e-30);
    if (!(std::abs(va[i] - vb[i]) <= tol)) {
      ADD_FAILURE() << what << ": element " << i << " is " << vb[i] << " on the GPU, " << va[i] << " on the CPU";
      return;
    }
  }
}

// |gpu - cpu| <= tol(i) for every element i (bounds that follow a
// formula's conditioning, where a sum cancels).
template <typename Tol>
void expect_within(const Tensor& cpu, const Tensor& gpu, Tol tol, const std::string& what) {
  const std::vector<double> va = values(cpu), vb = values(gpu);
  ASSERT_EQ(va.size(), vb.size()) << what;
  for (size_t i = 0; i < va.size(); ++i) {
    if ((std::isnan(va[i]) && std::isnan(vb[i])) || va[i] == vb[i]) continue;
    if (!(std::abs(va[i] - vb[i]) <= tol(i))) {
      ADD_FAILURE() << what << ": element " << i << " is " << vb[i] << " on the GPU, " << va[i]
                    << " on the CPU (bound " << tol(i) << ")";
      return;
    }
  }
}

inline double eps_of(DType t) {
  return t == DType::f32 ? double(std::numeric_limits<float>::epsilon()) : std::numeric_limits<double>::epsilon();
}

}  // namespace moe::cuda_test
