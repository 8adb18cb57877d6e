// The fused AdamW update (core/cuda/optim.cu) against the CPU loop through
// the op: f32 and bf16 moments, parameters of ragged sizes (one element,
// 2^k +- 1, more than one grid of the grid-stride loop) in one call, each
// with its own step constants; every updated byte equal. Runs on a GPU or
// the SIMT shim; skipped without a device.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/backend/optim.h"
#include "core/ops.h"
#include "tests/core/cuda_test_util.h"

namespace moe {
namespace {

using namespace cuda_test;

optim_math::AdamWScalars scalars_for(int step, double lr) {
  return optim_math::adamw_scalars(lr, 0.9, 0.95, 1e-8, 0.1, step);
}

TEST(CudaOptim, FusedAdamWEqualsTheCpuLoopBitwise) {
  MOE_REQUIRE_DEVICE();
  for (DType moments : {DType::f32, DType::bf16}) {
    const std::vector<int64_t> sizes = {1, 255, 256, 257, 4099, 70001};
    std::vector<AdamWTensors> cpu, gpu;
    for (size_t i = 0; i < sizes.size(); ++i) {
      const Shape s{sizes[i]};
      const uint64_t seed = 10 * i;
      AdamWTensors c{sample(s, seed + 1), sample(s, seed + 2), sample(s, seed + 3).to(moments),
                     abs(sample(s, seed + 4)).to(moments), scalars_for(int(i) + 1, 1e-3 * double(i + 1))};
      cpu.push_back(c);
      gpu.push_back({to_device(c.param, kGpu), to_device(c.grad, kGpu), to_device(c.exp_avg, kGpu),
                     to_device(c.exp_avg_sq, kGpu), c.scalars});
    }
    for (int rep = 0; rep < 2; ++rep) {  // a second step reads the moments the first wrote
      adamw_update_(cpu);
      adamw_update_(gpu);
    }
    for (size_t i = 0; i < sizes.size(); ++i) {
      const std::string what = "adamw " + std::to_string(sizes[i]) + " " + dtype_name(moments);
      expect_bitwise(cpu[i].param, gpu[i].param, what + ": param");
      expect_bitwise(cpu[i].exp_avg, gpu[i].exp_avg, what + ": exp_avg");
      expect_bitwise(cpu[i].exp_avg_sq, gpu[i].exp_avg_sq, what + ": exp_avg_sq");
    }
  }
}

TEST(CudaOptim, FusedAdamWRefusesMixedDevices) {
  MOE_REQUIRE_DEVICE();
  const Tensor p = zeros({4}), g = zeros({4}, DType::f32, kGpu);
  try {
    adamw_update_({AdamWTensors{p, g, zeros({4}), zeros({4}), scalars_for(1, 1e-3)}});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("is not on cpu"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace moe
