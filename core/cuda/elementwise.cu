// CUDA kernels of the elementwise family: one thread per element, the
// formulas of core/kernels/elementwise_math.h (those of the CPU kernels).
#include "core/cuda/elementwise.h"

#include "core/cuda/launch.h"
#include "core/dtype_switch.h"

namespace moe::cuda {
namespace {

template <typename T>
__global__ void unary_kernel(math::Unary op, const T* __restrict__ x, T p, T* __restrict__ out, int64_t n) {
  MOE_GRID_STRIDE(i, n) out[i] = math::unary(op, x[i], p);
}

// x a strided view (out contiguous).
template <typename T>
__global__ void unary_strided_kernel(math::Unary op, const T* __restrict__ x, T p, T* __restrict__ out,
                                     math::StridedIndex<2> ix, int64_t n) {
  MOE_GRID_STRIDE(i, n) {
    int64_t off[2];
    ix.offsets(i, off);
    out[off[0]] = math::unary(op, x[off[1]], p);
  }
}

template <typename T, typename O>
__global__ void binary_kernel(math::Binary op, const T* __restrict__ a, const T* __restrict__ b, O* __restrict__ out,
                              math::StridedIndex<3> ix, int64_t n) {
  MOE_GRID_STRIDE(i, n) {
    int64_t off[3];
    ix.offsets(i, off);
    out[off[0]] = O(math::binary(op, a[off[1]], b[off[2]]));
  }
}

template <typename T>
__global__ void swiglu_kernel(const T* __restrict__ gate, const T* __restrict__ up, T* __restrict__ out, int64_t n) {
  MOE_GRID_STRIDE(i, n) out[i] = math::swiglu(gate[i], up[i]);
}

template <typename T>
__global__ void swiglu_backward_kernel(const T* __restrict__ g, const T* __restrict__ gate, const T* __restrict__ up,
                                       T* __restrict__ dgate, T* __restrict__ dup, int64_t n) {
  MOE_GRID_STRIDE(i, n) math::swiglu_grads(g[i], gate[i], up[i], dgate[i], dup[i]);
}

template <typename T>
__global__ void where_kernel(const bool* __restrict__ cond, const T* __restrict__ a, const T* __restrict__ b,
                             T* __restrict__ out, math::StridedIndex<4> ix, int64_t n) {
  MOE_GRID_STRIDE(i, n) {
    int64_t off[4];
    ix.offsets(i, off);
    out[off[0]] = cond[off[1]] ? a[off[2]] : b[off[3]];
  }
}

unsigned grid(int64_t n) { return grid_stride_blocks(n, kBlock); }

}  // namespace

void unary(math::Unary op, const Tensor& x, double p, const Tensor& out) {
  const int64_t n = out.numel();
  if (n == 0) return;
  DeviceGuard on(out);
  dtype_switch_float(x.dtype(), "unary", [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (x.is_contiguous()) {
      auto* k = &unary_kernel<T>;
      MOE_LAUNCH(k, grid(n), kBlock, 0, current_stream())(op, x.device_data<T>(), T(p), out.device_data<T>(), n);
      return;
    }
    const math::StridedIndex<2> ix = strided_index<2>("unary", x.shape(), {out.strides(), x.strides()});
    auto* k = &unary_strided_kernel<T>;
    MOE_LAUNCH(k, grid(n), kBlock, 0, current_stream())(op, x.device_data<T>(), T(p), out.device_data<T>(), ix, n);
  });
  MOE_CUDA_CHECK(cudaGetLastError());
}

void binary(math::Binary op, const Tensor& a, const Tensor& b, const Tensor& out) {
  const int64_t n = out.numel();
  if (n == 0) return;
  DeviceGuard on(out);
  const math::StridedIndex<3> ix = strided_index<3>(
      "binary", out.shape(), {out.strides(), broadcast_strides(a, out.shape()), broadcast_strides(b, out.shape())});
  dtype_switch_native(a.dtype(), "binary", [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (std::is_same_v<T, bool>) {
      MOE_CHECK(false, "binary: arithmetic on bool tensors is not supported");
    } else if (out.dtype() == DType::b8) {
      auto* k = &binary_kernel<T, bool>;
      MOE_LAUNCH(k, grid(n), kBlock, 0, current_stream())(
          op, a.device_data<T>(), b.device_data<T>(), out.device_data<bool>(), ix, n);
    } else {
      auto* k = &binary_kernel<T, T>;
      MOE_LAUNCH(k, grid(n), kBlock, 0, current_stream())(
          op, a.device_data<T>(), b.device_data<T>(), out.device_data<T>(), ix, n);
    }
  });
  MOE_CUDA_CHECK(cudaGetLastError());
}

void swiglu(const Tensor& gate, const Tensor& up, const Tensor& out) {
  const int64_t n = out.numel();
  if (n == 0) return;
  DeviceGuard on(out);
  dtype_switch_float(gate.dtype(), "swiglu", [&](auto tag) {
    using T = typename decltype(tag)::type;
    auto* k = &swiglu_kernel<T>;
    MOE_LAUNCH(k, grid(n), kBlock, 0, current_stream())(
        gate.device_data<T>(), up.device_data<T>(), out.device_data<T>(), n);
  });
  MOE_CUDA_CHECK(cudaGetLastError());
}

void swiglu_backward(const Tensor& g, const Tensor& gate, const Tensor& up, const Tensor& dgate, const Tensor& dup) {
  const int64_t n = g.numel();
  if (n == 0) return;
  DeviceGuard on(g);
  dtype_switch_float(gate.dtype(), "swiglu backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    auto* k = &swiglu_backward_kernel<T>;
    MOE_LAUNCH(k, grid(n), kBlock, 0, current_stream())(
        g.device_data<T>(), gate.device_data<T>(), up.device_data<T>(), dgate.device_data<T>(), dup.device_data<T>(),
        n);
  });
  MOE_CUDA_CHECK(cudaGetLastError());
}

void where(const Tensor& cond, const Tensor& a, const Tensor& b, const Tensor& out) {
  const int64_t n = out.numel();
  if (n == 0) return;
  DeviceGuard on(out);
  const math::StridedIndex<4> ix =
      strided_index<4>("where", out.shape(),
                       {out.strides(), broadcast_strides(cond, out.shape()), broadcast_strides(a, out.shape()),
                        broadcast_strides(b, out.shape())});
  dtype_switch_native(a.dtype(), "where", [&](auto tag) {
    using T = typename decltype(tag)::type;
    auto* k = &where_kernel<T>;
    MOE_LAUNCH(k, grid(n), kBlock, 0, current_stream())(
        cond.device_data<bool>(), a.device_data<T>(), b.device_data<T>(), out.device_data<T>(), ix, n);
  });
  MOE_CUDA_CHECK(cudaGetLastError());
}

}  // namespace moe::cuda
