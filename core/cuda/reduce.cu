// CUDA kernels of the reduction family. Row sums and maxima: one block per
// row (per fixed chunk of a long row, then per row of chunk partials), f64
// partials over a fixed tree (core/cuda/block_reduce.h). Along a
// dim of [outer, n, inner]: one thread per (outer, inner) column walking n in
// the CPU's order, so max (with its index) and cumsum equal the CPU's bit
// for bit.
#include <type_traits>

#include "core/backend/reduce.h"
#include "core/cuda/block_reduce.h"
#include "core/cuda/launch.h"
#include "core/cuda/reduce.h"
#include "core/dtype_switch.h"
#include "core/ops.h"

namespace moe::cuda {
namespace {

// Op: 0 sum, 1 max, 2 sum of squares (each term squared in f64).
template <int Op>
__device__ double reduce_term(double v) {
  return Op == 2 ? v * v : v;
}
template <int Op>
__device__ double reduce_step(double acc, double term) {
  return Op == 1 ? MaxNanOp()(acc, term) : acc + term;
}
template <int Op>
__device__ double reduce_block(double acc, double* s) {
  return Op == 1 ? block_reduce(acc, MaxNanOp(), s) : block_reduce(acc, SumOp(), s);
}

template <typename T, typename O, int Op>
__global__ void reduce_rows_kernel(const T* __restrict__ x, O* __restrict__ out, int64_t rows, int64_t len) {
  __shared__ double s[kBlock];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* xr = x + r * len;
    double acc = Op == 1 ? -INFINITY : 0.0;
    for (int64_t j = threadIdx.x; j < len; j += blockDim.x) acc = reduce_step<Op>(acc, reduce_term<Op>(double(xr[j])));
    acc = reduce_block<Op>(acc, s);
    if (threadIdx.x == 0) out[r] = O(acc);
  }
}

// Long rows (a whole-tensor sum, a gradient's norm) are cut into chunks of
// kChunk, each reduced by one block into an f64 partial; a second pass
// reduces each row's partials in chunk order. The chunking depends on len
// alone, so the result is still fixed run to run.
constexpr int64_t kChunk = 1 << 14;

template <typename T, int Op>
__global__ void reduce_chunks_kernel(const T* __restrict__ x, double* __restrict__ partial, int64_t rows, int64_t len,
                                     int64_t chunks) {
  __shared__ double s[kBlock];
  for (int64_t u = blockIdx.x; u < rows * chunks; u += gridDim.x) {
    const int64_t r = u / chunks, c = u - r * chunks;
    const int64_t lo = c * kChunk, hi = lo + kChunk < len ? lo + kChunk : len;
    const T* xr = x + r * len;
    double acc = Op == 1 ? -INFINITY : 0.0;
    for (int64_t j = lo + threadIdx.x; j < hi; j += blockDim.x)
      acc = reduce_step<Op>(acc, reduce_term<Op>(double(xr[j])));
    acc = reduce_block<Op>(acc, s);
    if (threadIdx.x == 0) partial[u] = acc;
  }
}

// The partials are already squared: the second pass sums (or maxes) them.
template <typename O, int Op>
__global__ void reduce_partials_kernel(const double* __restrict__ partial, O* __restrict__ out, int64_t rows,
                                       int64_t chunks) {
  constexpr int P = Op == 1 ? 1 : 0;
  __shared__ double s[kBlock];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const double* pr = partial + r * chunks;
    double acc = P == 1 ? -INFINITY : 0.0;
    for (int64_t j = threadIdx.x; j < chunks; j += blockDim.x) acc = reduce_step<P>(acc, pr[j]);
    acc = reduce_block<P>(acc, s);
    if (threadIdx.x == 0) out[r] = O(acc);
  }
}

template <typename T, typename O, int Op>
void launch_reduce_rows(const Tensor& x, int64_t rows, int64_t len, const Tensor& out) {
  if (len > 4 * kChunk) {  // few long rows: one block each would leave the GPU idle
    const int64_t chunks = (len + kChunk - 1) / kChunk;
    const Tensor partial = empty({rows, chunks}, DType::f64, x.device());
    auto* k1 = &reduce_chunks_kernel<T, Op>;
    MOE_LAUNCH(k1, row_grid(rows * chunks), kBlock, 0, current_stream())(
        x.device_data<T>(), partial.device_data<double>(), rows, len, chunks);
    auto* k2 = &reduce_partials_kernel<O, Op>;
    MOE_LAUNCH(k2, row_grid(rows), kBlock, 0, current_stream())(partial.device_data<double>(),
                                                                 out.device_data<O>(), rows, chunks);
    return;
  }
  auto* k = &reduce_rows_kernel<T, O, Op>;
  MOE_LAUNCH(k, row_grid(rows), kBlock, 0, current_stream())(x.device_data<T>(), out.device_data<O>(), rows, len);
}

template <typename T>
MOE_HD bool is_nan(T v) {
  if constexpr (std::is_floating_point_v<T>) return v != v;
  return false;
}

template <typename T>
__global__ void max_dim_kernel(const T* __restrict__ x, T* __restrict__ values, int64_t* __restrict__ indices,
                               int64_t outer, int64_t n, int64_t inner) {
  MOE_GRID_STRIDE(u, outer * inner) {
    const int64_t o = u / inner, i = u - o * inner;
    const T* p = x + o * n * inner + i;
    T val = p[0];
    int64_t idx = 0;
    for (int64_t c = 1; c < n; ++c) {
      const T v = p[c * inner];
      // Strictly greater keeps the first maximum; a NaN replaces any number.
      if (!(v <= val) && !is_nan(val)) val = v, idx = c;
    }
    values[u] = val;
    indices[u] = idx;
  }
}

template <typename T>
__global__ void max_dim_backward_kernel(const T* __restrict__ g, const int64_t* __restrict__ indices,
                                        T* __restrict__ gx, int64_t outer, int64_t n, int64_t inner) {
  MOE_GRID_STRIDE(e, outer * n * inner) {
    const int64_t i = e % inner, c = (e / inner) % n, o = e / (inner * n), u = o * inner + i;
    gx[e] = indices[u] == c ? g[u] : T(0);
  }
}

template <typename T, typename Acc>
__global__ void cumsum_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t outer, int64_t n, int64_t inner,
                              bool reverse) {
  MOE_GRID_STRIDE(u, outer * inner) {
    const int64_t o = u / inner, i = u - o * inner, base = o * n * inner + i;
    Acc acc = 0;
    for (int64_t k = 0; k < n; ++k) {
      const int64_t off = base + (reverse ? n - 1 - k : k) * inner;
      acc += Acc(x[off]);
      y[off] = T(acc);
    }
  }
}

}  // namespace

void reduce_rows(backend::RowReduce op, const Tensor& x, int64_t rows, int64_t len, const Tensor& out) {
  if (rows == 0) return;
  DeviceGuard on(x);
  dtype_switch_float(x.dtype(), "reduce", [&](auto tag) {
    using T = typename decltype(tag)::type;
    switch (op) {
      case backend::RowReduce::sum: return launch_reduce_rows<T, T, 0>(x, rows, len, out);
      case backend::RowReduce::max: return launch_reduce_rows<T, T, 1>(x, rows, len, out);
      case backend::RowReduce::sum_squares: return launch_reduce_rows<T, double, 2>(x, rows, len, out);
    }
  });
  MOE_CUDA_CHECK(cudaGetLastError());
}

void max_dim(const Tensor& x, const Tensor& values, const Tensor& indices, int64_t outer, int64_t n,
             int64_t inner) {
  if (outer * inner == 0) return;
  DeviceGuard on(x);
  dtype_switch_numeric(x.dtype(), "max", [&](auto tag) {
    using T = typename decltype(tag)::type;
    auto* k = &max_dim_kernel<T>;
    MOE_LAUNCH(k, grid_stride_blocks(outer * inner, kBlock), kBlock, 0, current_stream())(
        x.device_data<T>(), values.device_data<T>(), indices.device_data<int64_t>(), outer, n, inner);
  });
  MOE_CUDA_CHECK(cudaGetLastError());
}

void max_dim_backward(const Tensor& g, const Tensor& indices, const Tensor& gx, int64_t outer, int64_t n,
                      int64_t inner) {
  if (outer * n * inner == 0) return;
  DeviceGuard on(g);
  dtype_switch_float(g.dtype(), "max_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    auto* k = &max_dim_backward_kernel<T>;
    MOE_LAUNCH(k, grid_stride_blocks(outer * n * inner, kBlock), kBlock, 0, current_stream())(
        g.device_data<T>(), indices.device_data<int64_t>(), gx.device_data<T>(), outer, n, inner);
  });
  MOE_CUDA_CHECK(cudaGetLastError());
}

void cumsum_dim(const Tensor& x, const Tensor& y, int64_t outer, int64_t n, int64_t inner, bool reverse) {
  if (outer * inner == 0) return;
  DeviceGuard on(x);
  dtype_switch_numeric(x.dtype(), "cumsum", [&](auto tag) {
    using T = typename decltype(tag)::type;
    using Acc = std::conditional_t<std::is_floating_point_v<T>, double, int64_t>;
    auto* k = &cumsum_kernel<T, Acc>;
    MOE_LAUNCH(k, grid_stride_blocks(outer * inner, kBlock), kBlock, 0, current_stream())(
        x.device_data<T>(), y.device_data<T>(), outer, n, inner, reverse);
  });
  MOE_CUDA_CHECK(cudaGetLastError());
}

}  // namespace moe::cuda
