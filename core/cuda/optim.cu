// CUDA kernels of the fused optimizer family: one thread per element, the
// formulas of core/kernels/optim_math.h (those of the CPU loop).
#include "core/cuda/optim.h"

#include "core/cuda/launch.h"

namespace moe::cuda {
namespace {

template <typename M>
__global__ void adamw_kernel(float* __restrict__ p, const float* __restrict__ g, M* __restrict__ m,
                             M* __restrict__ v, optim_math::AdamWScalars s, int64_t n) {
  MOE_GRID_STRIDE(i, n) optim_math::adamw_element(p[i], g[i], m[i], v[i], s);
}

template <typename M>
void launch_adamw(const AdamWTensors& t) {
  const int64_t n = t.param.numel();
  auto* k = &adamw_kernel<M>;
  MOE_LAUNCH(k, grid_stride_blocks(n, kBlock), kBlock, 0, current_stream())(
      t.param.device_data<float>(), t.grad.device_data<float>(), t.exp_avg.device_data<M>(),
      t.exp_avg_sq.device_data<M>(), t.scalars, n);
}

}  // namespace

// One launch per parameter: a model has a few hundred, and each launch
// covers its parameter with a grid-stride loop.
void adamw_update(const std::vector<AdamWTensors>& params) {
  if (params.empty()) return;
  DeviceGuard on(params.front().param);
  for (const AdamWTensors& t : params) {
    if (t.param.numel() == 0) continue;
    if (t.exp_avg.dtype() == DType::bf16)
      launch_adamw<bf16_t>(t);
    else
      launch_adamw<float>(t);
  }
  MOE_CUDA_CHECK(cudaGetLastError());
}

}  // namespace moe::cuda
