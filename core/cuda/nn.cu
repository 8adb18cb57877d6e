// CUDA kernels of the neural-network family: the formulas of
// core/kernels/nn_math.h, rows reduced over a fixed block tree
// (core/cuda/block_reduce.h). RoPE reads a cos/sin table built on the host
// in double exactly as the CPU's (the GPU's double cos and sin use local
// memory) and kept on the device per setting; dropout draws the CPU's Philox
// words, so masks are identical; embedding's backward sums each column over
// the ids in order, as the CPU does, so it equals the CPU bit for bit. The
// router's selection is route_math's, one token per thread.
#include <cmath>
#include <deque>
#include <mutex>
#include <vector>

#include "core/cuda/block_reduce.h"
#include "core/cuda/launch.h"
#include "core/cuda/nn.h"
#include "core/dtype_switch.h"
#include "core/kernels/nn_math.h"
#include "core/kernels/route_math.h"
#include "core/ops.h"

namespace moe::cuda {
namespace {

template <typename T>
__global__ void rms_norm_fwd_kernel(const T* __restrict__ x, const T* __restrict__ w, double eps, T* __restrict__ out,
                                    T* __restrict__ rstd, int64_t R, int64_t D) {
  __shared__ double s[kBlock];
  for (int64_t r = blockIdx.x; r < R; r += gridDim.x) {
    const T* xr = x + r * D;
    double acc = 0;
    for (int64_t j = threadIdx.x; j < D; j += blockDim.x) acc += double(xr[j]) * double(xr[j]);
    const T rs = T(nn_math::rms_rstd(block_reduce(acc, SumOp(), s), D, eps));
    if (threadIdx.x == 0) rstd[r] = rs;
    for (int64_t j = threadIdx.x; j < D; j += blockDim.x) out[r * D + j] = xr[j] * rs * w[j];
  }
}

template <typename T>
__global__ void rms_norm_dx_kernel(const T* __restrict__ g, const T* __restrict__ x, const T* __restrict__ w,
                                   const T* __restrict__ rstd, T* __restrict__ dx, int64_t R, int64_t D) {
  __shared__ double s[kBlock];
  for (int64_t r = blockIdx.x; r < R; r += gridDim.x) {
    const T *gr = g + r * D, *xr = x + r * D;
    const T rs = rstd[r];
    double acc = 0;
    for (int64_t j = threadIdx.x; j < D; j += blockDim.x) acc += double(gr[j] * w[j]) * double(xr[j] * rs);
    const T cm = T(block_reduce(acc, SumOp(), s) / double(D));
    for (int64_t j = threadIdx.x; j < D; j += blockDim.x) dx[r * D + j] = nn_math::rms_dx(gr[j], w[j], xr[j] * rs, rs, cm);
  }
}

// dw_j = sum over rows, in row order, of g * xhat: a thread per column.
template <typename T>
__global__ void rms_norm_dw_kernel(const T* __restrict__ g, const T* __restrict__ x, const T* __restrict__ rstd,
                                   T* __restrict__ dw, int64_t R, int64_t D) {
  MOE_GRID_STRIDE(j, D) {
    double acc = 0;
    for (int64_t r = 0; r < R; ++r) acc += double(g[r * D + j]) * double(x[r * D + j] * rstd[r]);
    dw[j] = T(acc);
  }
}

template <typename T>
__global__ void rope_kernel(const T* __restrict__ x, const T* __restrict__ cs, const T* __restrict__ sn,
                            T* __restrict__ out, int64_t rows, int64_t T_, int64_t H, int64_t Dh, int64_t rot_dim,
                            bool interleaved, T sign) {
  const int64_t half = rot_dim / 2;
  MOE_GRID_STRIDE(e, rows * Dh) {
    const int64_t r = e / Dh, j = e - r * Dh, t = (r / H) % T_;
    const T* xr = x + r * Dh;
    if (j >= rot_dim) {
      out[e] = xr[j];
      continue;
    }
    // The thread of a pair's first element writes both.
    const int64_t i = interleaved ? j / 2 : (j < half ? j : j - half);
    const bool first = interleaved ? j % 2 == 0 : j < half;
    if (!first) continue;
    const int64_t a = interleaved ? 2 * i : i, b = interleaved ? 2 * i + 1 : i + half;
    T y0, y1;
    nn_math::rope_rotate(xr[a], xr[b], cs[t * half + i], sign * sn[t * half + i], y0, y1);
    out[r * Dh + a] = y0;
    out[r * Dh + b] = y1;
  }
}

template <typename I>
__global__ void first_out_of_vocab_kernel(const I* __restrict__ ids, int64_t n, int64_t V, int64_t* __restrict__ pos) {
  __shared__ int64_t s[kBlock];
  const int64_t first = first_where(n, [&](int64_t r) { return ids[r] < 0 || int64_t(ids[r]) >= V; }, s);
  if (threadIdx.x == 0) *pos = first;
}

template <typename E, typename I>
__global__ void embedding_fwd_kernel(const E* __restrict__ w, int64_t row, const I* __restrict__ ids,
                                     E* __restrict__ out, int64_t N, int64_t D) {
  MOE_GRID_STRIDE(e, N * D) {
    const int64_t n = e / D, c = e - n * D;
    out[e] = w[int64_t(ids[n]) * row + c];
  }
}

template <typename T, typename I>
__global__ void embedding_bwd_kernel(const T* __restrict__ g, const I* __restrict__ ids, T* __restrict__ dw,
                                     int64_t N, int64_t D) {
  MOE_GRID_STRIDE(c, D) {
    for (int64_t n = 0; n < N; ++n) dw[int64_t(ids[n]) * D + c] += g[n * D + c];
  }
}

template <typename T>
__global__ void dropout_kernel(const T* __restrict__ x, double p, uint64_t seed, uint64_t stream,
                               T* __restrict__ out, int64_t n) {
  const T keep_prob = T(1.0 - p);
  MOE_GRID_STRIDE(i, n) {
    const philox::U4 r = philox::philox4x32_10(seed, stream, uint64_t(i) / 4);
    out[i] = nn_math::dropout_apply(x[i], nn_math::dropout_keep_word(r.x[i % 4], p), keep_prob);
  }
}

// One thread per token: the selection of core/kernels/route_math.h and the
// selected experts' scores.
__global__ void route_topk_kernel(const float* __restrict__ scores, const float* __restrict__ bias,
                                  route_math::Spec s, int32_t* __restrict__ experts, float* __restrict__ affinity,
                                  int64_t n) {
  MOE_GRID_STRIDE(t, n) {
    const float* row = scores + t * s.experts;
    int32_t* out = experts + t * s.top_k;
    route_math::select_token(row, bias, s, out);
    for (int64_t k = 0; k < s.top_k; ++k) affinity[t * s.top_k + k] = row[out[k]];
  }
}

// The cos/sin table of one RoPE setting on one device, built on the host
// as the CPU builds its own. A few settings per process (every layer shares
// one), kept for the process's life (a deque: references stay valid).
struct RopeKey {
  double base;
  int64_t rot_dim, offset, positions;
  DType dtype;
  int device;
  bool operator==(const RopeKey& o) const {
    return base == o.base && rot_dim == o.rot_dim && offset == o.offset && positions == o.positions &&
           dtype == o.dtype && device == o.device;
  }
};
struct RopeTable {
  RopeKey key;
  Tensor cos, sin;
};
const RopeTable& rope_table(const RopeKey& key) {
  static std::mutex mu;
  // Never destroyed: its tensors must not outlive the device allocator.
  static std::deque<RopeTable>& kept = *new std::deque<RopeTable>;
  std::lock_guard<std::mutex> lock(mu);
  for (const RopeTable& t : kept)
    if (t.key == key) return t;
  const int64_t half = key.rot_dim / 2;
  std::vector<double> c(size_t(key.positions * half)), s(c.size());
  for (int64_t p = 0; p < key.positions; ++p)
    for (int64_t i = 0; i < half; ++i) {
      const double a = double(key.offset + p) * nn_math::rope_inv_freq(key.base, i, key.rot_dim);
      c[size_t(p * half + i)] = std::cos(a);
      s[size_t(p * half + i)] = std::sin(a);
    }
  const Device d = Device::cuda(key.device);
  const Shape shape{key.positions, half};
  RopeTable t{key, to_device(from_vector(c, shape, DType::f64).to(key.dtype), d),
              to_device(from_vector(s, shape, DType::f64).to(key.dtype), d)};
  kept.push_back(std::move(t));
  return kept.back();
}

}  // namespace

void rms_norm_fwd(const Tensor& x, const Tensor& w, double eps, const Tensor& out, const Tensor& rstd) {
  const int64_t D = x.shape().back(), R = D == 0 ? 0 : x.numel() / D;
  if (R == 0) return;
  DeviceGuard on(x);
  dtype_switch_float(x.dtype(), "rms_norm", [&](auto tag) {
    using T = typename decltype(tag)::type;
    auto* k = &rms_norm_fwd_kernel<T>;
    MOE_LAUNCH(k, row_grid(R), kBlock, 0, current_stream())(
        x.device_data<T>(), w.device_data<T>(), eps, out.device_data<T>(), rstd.device_data<T>(), R, D);
  });
  MOE_CUDA_CHECK(cudaGetLastError());
}

void rms_norm_bwd(const Tensor& g, const Tensor& x, const Tensor& w, const Tensor& rstd, const Tensor& dx,
                  const Tensor& dw) {
  const int64_t D = x.shape().back(), R = D == 0 ? 0 : x.numel() / D;
  DeviceGuard on(x);
  dtype_switch_float(x.dtype(), "rms_norm backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (R > 0) {
      auto* k = &rms_norm_dx_kernel<T>;
      MOE_LAUNCH(k, row_grid(R), kBlock, 0, current_stream())(
          g.device_data<T>(), x.device_data<T>(), w.device_data<T>(), rstd.device_data<T>(), dx.device_data<T>(), R, D);
    }
    if (dw.defined() && D > 0) {
      auto* k = &rms_norm_dw_kernel<T>;
      MOE_LAUNCH(k, grid_stride_blocks(D, kBlock), kBlock, 0, current_stream())(
          g.device_data<T>(), x.device_data<T>(), rstd.device_data<T>(), dw.device_data<T>(), R, D);
    }
  });
  MOE_CUDA_CHECK(cudaGetLastError());
}

void rope(const Tensor& x, double base, bool interleaved, int64_t offset, int64_t rot_dim, bool inverse,
          const Tensor& out) {
  const int64_t T_ = x.shape()[1], H = x.shape()[2], Dh = x.shape()[3];
  const int64_t rows = x.numel() / std::max<int64_t>(Dh, 1);
  if (rows * Dh == 0) return;
  DeviceGuard on(x);
  const RopeTable& table = rope_table({base, rot_dim, offset, T_, x.dtype(), x.device().index});
  dtype_switch_float(x.dtype(), "rope", [&](auto tag) {
    using T = typename decltype(tag)::type;
    auto* k = &rope_kernel<T>;
    MOE_LAUNCH(k, grid_stride_blocks(rows * Dh, kBlock), kBlock, 0, current_stream())(
        x.device_data<T>(), table.cos.device_data<T>(), table.sin.device_data<T>(), out.device_data<T>(), rows, T_, H,
        Dh, rot_dim, interleaved, inverse ? T(-1) : T(1));
  });
  MOE_CUDA_CHECK(cudaGetLastError());
}

void embedding_first_bad(const Tensor& ids, int64_t V, const Tensor& pos) {
  DeviceGuard on(ids);
  dtype_switch_index(ids.dtype(), "embedding", [&](auto tag) {
    using I = typename decltype(tag)::type;
    auto* k = &first_out_of_vocab_kernel<I>;
    MOE_LAUNCH(k, 1, kBlock, 0, current_stream())(ids.device_data<I>(), ids.numel(), V, pos.device_data<int64_t>());
  });
  MOE_CUDA_CHECK(cudaGetLastError());
}

void embedding_fwd(const Tensor& w, const Tensor& ids, const Tensor& out) {
  const int64_t D = w.shape()[1], N = ids.numel(), row = w.strides()[0];
  if (N * D == 0) return;
  DeviceGuard on(w);
  dtype_switch_storage(w.dtype(), [&](auto wtag) {
    using E = typename decltype(wtag)::type;
    dtype_switch_index(ids.dtype(), "embedding", [&](auto itag) {
      using I = typename decltype(itag)::type;
      auto* k = &embedding_fwd_kernel<E, I>;
      MOE_LAUNCH(k, grid_stride_blocks(N * D, kBlock), kBlock, 0, current_stream())(
          w.device_data<E>(), row, ids.device_data<I>(), out.device_data<E>(), N, D);
    });
  });
  MOE_CUDA_CHECK(cudaGetLastError());
}

void embedding_bwd(const Tensor& g, const Tensor& ids, const Tensor& dw) {
  const int64_t D = dw.shape()[1], N = ids.numel();
  if (N * D == 0) return;
  DeviceGuard on(g);
  dtype_switch_float(g.dtype(), "embedding backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    dtype_switch_index(ids.dtype(), "embedding backward", [&](auto itag) {
      using I = typename decltype(itag)::type;
      auto* k = &embedding_bwd_kernel<T, I>;
      MOE_LAUNCH(k, grid_stride_blocks(D, kBlock), kBlock, 0, current_stream())(
          g.device_data<T>(), ids.device_data<I>(), dw.device_data<T>(), N, D);
    });
  });
  MOE_CUDA_CHECK(cudaGetLastError());
}

void route_topk(const Tensor& scores, const Tensor& bias, const route_math::Spec& s, const Tensor& experts,
                const Tensor& affinity) {
  const int64_t N = scores.size(0);
  if (N == 0) return;
  DeviceGuard on(scores);
  MOE_LAUNCH(route_topk_kernel, grid_stride_blocks(N, kBlock), kBlock, 0, current_stream())(
      scores.device_data<float>(), bias.defined() ? bias.device_data<float>() : nullptr, s,
      experts.device_data<int32_t>(), affinity.device_data<float>(), N);
  MOE_CUDA_CHECK(cudaGetLastError());
}

void dropout(const Tensor& x, double p, uint64_t seed, uint64_t stream, const Tensor& out) {
  const int64_t n = x.numel();
  if (n == 0) return;
  DeviceGuard on(x);
  dtype_switch_float(x.dtype(), "dropout", [&](auto tag) {
    using T = typename decltype(tag)::type;
    auto* k = &dropout_kernel<T>;
    MOE_LAUNCH(k, grid_stride_blocks(n, kBlock), kBlock, 0, current_stream())(
        x.device_data<T>(), p, seed, stream, out.device_data<T>(), n);
  });
  MOE_CUDA_CHECK(cudaGetLastError());
}

}  // namespace moe::cuda
