#include "core/backend/fp8.h"

#include "core/backend/kernel_device.h"
#include "core/cuda/fp8.h"

namespace moe::backend {

Tensor fp8_fprop(const Tensor& x, const Tensor& w, const fp8::GemmRecipe& r, const fp8::ScaleSource& s) {
  switch (kernel_device("fp8_fprop", x, w)) {
    case DeviceType::cpu: return fp8::product(fp8::fprop_operands(x, w, r, s), r);
    case DeviceType::cuda: return cuda::fp8_fprop(x, w, r, s);
  }
  unknown_device("fp8_fprop", x.device().type);
}

Tensor fp8_dgrad(const Tensor& dy, const Tensor& w, const fp8::GemmRecipe& r, const fp8::ScaleSource& s) {
  switch (kernel_device("fp8_dgrad", dy, w)) {
    case DeviceType::cpu: return fp8::product(fp8::dgrad_operands(dy, w, r, s), r);
    case DeviceType::cuda: return cuda::fp8_dgrad(dy, w, r, s);
  }
  unknown_device("fp8_dgrad", dy.device().type);
}

Tensor fp8_wgrad(const Tensor& x, const Tensor& dy, const fp8::GemmRecipe& r, const fp8::ScaleSource& s) {
  switch (kernel_device("fp8_wgrad", x, dy)) {
    case DeviceType::cpu: return fp8::product(fp8::wgrad_operands(x, dy, r, s), r);
    case DeviceType::cuda: return cuda::fp8_wgrad(x, dy, r, s);
  }
  unknown_device("fp8_wgrad", x.device().type);
}

}  // namespace moe::backend
