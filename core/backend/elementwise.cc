#include "core/backend/elementwise.h"

#include "core/backend/kernel_device.h"
#include "core/cpu/elementwise.h"
#include "core/cuda/elementwise.h"

namespace moe::backend {

void unary(math::Unary op, const Tensor& x, double p, const Tensor& out) {
  switch (kernel_device("unary", x, out)) {
    case DeviceType::cpu: return cpu::unary(op, x, p, out);
    case DeviceType::cuda: return cuda::unary(op, x, p, out);
  }
  unknown_device("unary", x.device().type);
}

void binary(math::Binary op, const Tensor& a, const Tensor& b, const Tensor& out) {
  switch (kernel_device("binary", a, b, out)) {
    case DeviceType::cpu: return cpu::binary(op, a, b, out);
    case DeviceType::cuda: return cuda::binary(op, a, b, out);
  }
  unknown_device("binary", a.device().type);
}

void swiglu(const Tensor& gate, const Tensor& up, const Tensor& out) {
  switch (kernel_device("swiglu", gate, up, out)) {
    case DeviceType::cpu: return cpu::swiglu(gate, up, out);
    case DeviceType::cuda: return cuda::swiglu(gate, up, out);
  }
  unknown_device("swiglu", gate.device().type);
}

void swiglu_backward(const Tensor& g, const Tensor& gate, const Tensor& up, const Tensor& dgate, const Tensor& dup) {
  switch (kernel_device("swiglu_backward", g, gate, up, dgate, dup)) {
    case DeviceType::cpu: return cpu::swiglu_backward(g, gate, up, dgate, dup);
    case DeviceType::cuda: return cuda::swiglu_backward(g, gate, up, dgate, dup);
  }
  unknown_device("swiglu_backward", g.device().type);
}

void where(const Tensor& cond, const Tensor& a, const Tensor& b, const Tensor& out) {
  switch (kernel_device("where", cond, a, b, out)) {
    case DeviceType::cpu: return cpu::where(cond, a, b, out);
    case DeviceType::cuda: return cuda::where(cond, a, b, out);
  }
  unknown_device("where", cond.device().type);
}

}  // namespace moe::backend
