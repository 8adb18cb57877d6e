// CUDA kernels of the softmax and loss family: one block per row, the row
// max and f64 sums over a fixed tree (core/cuda/block_reduce.h), the CPU's
// per-element formulas (exp_t of core/kernels/fast_exp.h). The CPU sums in
// another fixed order, so results agree to rounding, run to run bitwise.
#include <cstdint>

#include "core/cuda/block_reduce.h"
#include "core/cuda/launch.h"
#include "core/cuda/softmax.h"
#include "core/dtype_switch.h"
#include "core/kernels/fast_exp.h"
#include "core/ops.h"

namespace moe::cuda {
namespace {

// Row max with NaNs skipped (-inf when there is nothing else), as the CPU's.
template <typename T>
__device__ T row_max(const T* xr, int64_t n, T* s) {
  T m = -INFINITY;
  for (int64_t j = threadIdx.x; j < n; j += blockDim.x) m = MaxSkipNanOp()(m, xr[j]);
  return block_reduce(m, MaxSkipNanOp(), s);
}

// sum over the row of exp(x - m), in f64.
template <typename T>
__device__ double row_sum_exp(const T* xr, T m, int64_t n, double* s) {
  double acc = 0;
  for (int64_t j = threadIdx.x; j < n; j += blockDim.x) acc += double(math::exp_t(xr[j] - m));
  return block_reduce(acc, SumOp(), s);
}

template <typename T>
__global__ void softmax_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t rows, int64_t n, bool log) {
  __shared__ T sm[kBlock];
  __shared__ double sd[kBlock];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* xr = x + r * n;
    T* yr = y + r * n;
    const T m = row_max(xr, n, sm);
    const double sum = row_sum_exp(xr, m, n, sd);
    if (log) {
      const double ls = ::log(sum);
      for (int64_t j = threadIdx.x; j < n; j += blockDim.x) yr[j] = T(double(xr[j] - m) - ls);
    } else {
      const double inv = 1.0 / sum;
      for (int64_t j = threadIdx.x; j < n; j += blockDim.x) yr[j] = T(double(math::exp_t(xr[j] - m)) * inv);
    }
  }
}

// softmax: gx = y (g - sum(g y)); log_softmax: gx = g - exp(y) sum(g).
template <typename T>
__global__ void softmax_backward_kernel(const T* __restrict__ y, const T* __restrict__ g, T* __restrict__ gx,
                                        int64_t rows, int64_t n, bool log) {
  __shared__ double sd[kBlock];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T *yr = y + r * n, *gr = g + r * n;
    T* o = gx + r * n;
    double acc = 0;
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x) acc += log ? double(gr[j]) : double(gr[j]) * double(yr[j]);
    const double total = block_reduce(acc, SumOp(), sd);
    if (log) {
      const T sg = T(total);
      for (int64_t j = threadIdx.x; j < n; j += blockDim.x) o[j] = gr[j] - math::exp_t(yr[j]) * sg;
    } else {
      for (int64_t j = threadIdx.x; j < n; j += blockDim.x) o[j] = T(double(yr[j]) * (double(gr[j]) - total));
    }
  }
}

// The first position holding neither a class in [0, C) nor `ignore`, or -1.
template <typename I>
__global__ void first_bad_target_kernel(const I* __restrict__ target, int64_t n, int64_t C, int64_t ignore,
                                        int64_t* __restrict__ pos) {
  __shared__ int64_t s[kBlock];
  const int64_t first = first_where(
      n, [&](int64_t r) { const int64_t t = int64_t(target[r]); return t != ignore && (t < 0 || t >= C); }, s);
  if (threadIdx.x == 0) *pos = first;
}

template <typename T, typename I>
__global__ void cross_entropy_kernel(const T* __restrict__ x, const I* __restrict__ target, int64_t ignore,
                                     T* __restrict__ loss, T* __restrict__ stats, double* __restrict__ row_loss,
                                     int64_t rows, int64_t C) {
  __shared__ T sm[kBlock];
  __shared__ double sd[kBlock];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const int64_t t = int64_t(target[r]);
    if (t == ignore) {  // uniform over the block: every thread skips together
      if (threadIdx.x == 0) loss[r] = stats[2 * r] = stats[2 * r + 1] = T(0), row_loss[r] = 0;
      continue;
    }
    const T* xr = x + r * C;
    const T m = row_max(xr, C, sm);
    const double ls = ::log(row_sum_exp(xr, m, C, sd));
    if (threadIdx.x == 0) {
      const double l = (double(m) - double(xr[t])) + ls;
      row_loss[r] = l;
      loss[r] = T(l);
      stats[2 * r] = m;
      stats[2 * r + 1] = T(ls);
    }
  }
}

// sums = (the row losses added in row order, in f64; rows not ignored): one
// thread, so the total is the CPU's bit for bit.
template <typename I>
__global__ void cross_entropy_sums_kernel(const double* __restrict__ row_loss, const I* __restrict__ target,
                                          int64_t ignore, int64_t rows, double* __restrict__ sums) {
  if (blockIdx.x != 0 || threadIdx.x != 0) return;
  double total = 0, count = 0;
  for (int64_t r = 0; r < rows; ++r) {
    total += row_loss[r];
    count += int64_t(target[r]) != ignore ? 1.0 : 0.0;
  }
  sums[0] = total;
  sums[1] = count;
}

template <typename T, typename I>
__global__ void cross_entropy_backward_kernel(const T* __restrict__ x, const I* __restrict__ target,
                                              const T* __restrict__ stats, const T* __restrict__ g, bool per_row,
                                              double scale, int64_t ignore, T* __restrict__ gx, int64_t rows,
                                              int64_t C) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const int64_t t = int64_t(target[r]);
    T* o = gx + r * C;
    if (t == ignore) {
      for (int64_t j = threadIdx.x; j < C; j += blockDim.x) o[j] = T(0);
      continue;
    }
    const T* xr = x + r * C;
    const T m = stats[2 * r], ls = stats[2 * r + 1];
    const double gr = double(g[per_row ? r : 0]) * scale;
    const T grt = T(gr);
    // softmax = exp((x - m) - ls): m and ls apart keep it accurate for big logits.
    for (int64_t j = threadIdx.x; j < C; j += blockDim.x) {
      const T p = math::exp_t((xr[j] - m) - ls);
      o[j] = j == t ? T((double(p) - 1.0) * gr) : p * grt;
    }
  }
}

}  // namespace

void softmax_rows(const Tensor& x, const Tensor& y, int64_t rows, int64_t n, bool log) {
  if (n == 0 || rows == 0) return;
  DeviceGuard on(x);
  dtype_switch_float(x.dtype(), "softmax", [&](auto tag) {
    using T = typename decltype(tag)::type;
    auto* k = &softmax_kernel<T>;
    MOE_LAUNCH(k, row_grid(rows), kBlock, 0, current_stream())(x.device_data<T>(), y.device_data<T>(), rows, n, log);
  });
  MOE_CUDA_CHECK(cudaGetLastError());
}

void softmax_rows_backward(const Tensor& y, const Tensor& g, const Tensor& gx, int64_t rows, int64_t n, bool log) {
  if (n == 0 || rows == 0) return;
  DeviceGuard on(y);
  dtype_switch_float(y.dtype(), "softmax_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    auto* k = &softmax_backward_kernel<T>;
    MOE_LAUNCH(k, row_grid(rows), kBlock, 0, current_stream())(
        y.device_data<T>(), g.device_data<T>(), gx.device_data<T>(), rows, n, log);
  });
  MOE_CUDA_CHECK(cudaGetLastError());
}

void first_bad_target(const Tensor& target, int64_t C, int64_t ignore, const Tensor& pos) {
  DeviceGuard on(target);
  dtype_switch_index(target.dtype(), "cross_entropy", [&](auto tag) {
    using I = typename decltype(tag)::type;
    auto* k = &first_bad_target_kernel<I>;
    MOE_LAUNCH(k, 1, kBlock, 0, current_stream())(
        target.device_data<I>(), target.numel(), C, ignore, pos.device_data<int64_t>());
  });
  MOE_CUDA_CHECK(cudaGetLastError());
}

void cross_entropy_rows(const Tensor& x, const Tensor& target, int64_t ignore, const Tensor& loss,
                        const Tensor& stats, const Tensor& sums, int64_t rows, int64_t C) {
  DeviceGuard on(x);
  const Tensor row_loss = empty({std::max<int64_t>(rows, 1)}, DType::f64, x.device());
  dtype_switch_float(x.dtype(), "cross_entropy", [&](auto tag) {
    using T = typename decltype(tag)::type;
    dtype_switch_index(target.dtype(), "cross_entropy", [&](auto itag) {
      using I = typename decltype(itag)::type;
      if (rows > 0) {
        auto* k = &cross_entropy_kernel<T, I>;
        MOE_LAUNCH(k, row_grid(rows), kBlock, 0, current_stream())(
            x.device_data<T>(), target.device_data<I>(), ignore, loss.device_data<T>(), stats.device_data<T>(),
            row_loss.device_data<double>(), rows, C);
      }
      auto* s = &cross_entropy_sums_kernel<I>;
      MOE_LAUNCH(s, 1, 1, 0, current_stream())(
          row_loss.device_data<double>(), target.device_data<I>(), ignore, rows, sums.device_data<double>());
    });
  });
  MOE_CUDA_CHECK(cudaGetLastError());
}

void cross_entropy_rows_backward(const Tensor& x, const Tensor& target, const Tensor& stats, const Tensor& g,
                                 double scale, int64_t ignore, const Tensor& gx, int64_t rows, int64_t C) {
  if (rows == 0) return;
  DeviceGuard on(x);
  dtype_switch_float(x.dtype(), "cross_entropy_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    dtype_switch_index(target.dtype(), "cross_entropy_backward", [&](auto itag) {
      using I = typename decltype(itag)::type;
      auto* k = &cross_entropy_backward_kernel<T, I>;
      MOE_LAUNCH(k, row_grid(rows), kBlock, 0, current_stream())(
          x.device_data<T>(), target.device_data<I>(), stats.device_data<T>(), g.device_data<T>(), g.numel() != 1,
          scale, ignore, gx.device_data<T>(), rows, C);
    });
  });
  MOE_CUDA_CHECK(cudaGetLastError());
}

}  // namespace moe::cuda
