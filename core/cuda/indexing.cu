// CUDA kernels of the indexing and permutation family. Every addition runs
// in the CPU's order (scatter_add: a thread per line along dim; index_add:
// a thread per column over the index in order), so results equal the CPU's
// bit for bit and no floating atomics are used; bincount's integer atomics
// give exact counts. sorted_indices and expert_order are stable sorts of
// (key, position) pairs on CUB (core/cuda/sort.h): the keys of
// core/kernels/sort_key.h order values as the CPU's comparison sort does, so
// both give the CPU's permutation exactly.
#include <type_traits>

#include "core/cuda/block_reduce.h"
#include "core/cuda/indexing.h"
#include "core/cuda/launch.h"
#include "core/cuda/sort.h"
#include "core/dtype_switch.h"
#include "core/kernels/sort_key.h"
#include "core/ops.h"

namespace moe::cuda {
namespace {

__global__ void first_out_of_range_kernel(const int64_t* __restrict__ idx, int64_t n, int64_t lo, int64_t hi,
                                          int64_t* __restrict__ pos) {
  __shared__ int64_t s[kBlock];
  const int64_t first = first_where(n, [&](int64_t i) { return idx[i] < lo || idx[i] >= hi; }, s);
  if (threadIdx.x == 0) *pos = first;
}

// The sort pairs of sorted_indices: each element's key, and its position in its row.
template <typename T>
__global__ void sort_keys_kernel(const T* __restrict__ x, int64_t n, int64_t len, bool descending,
                                 sort_key::Key<T>* __restrict__ keys, int64_t* __restrict__ positions) {
  MOE_GRID_STRIDE(e, n) {
    keys[e] = sort_key::of(x[e], descending);
    positions[e] = e % len;
  }
}

__global__ void row_offsets_kernel(int64_t rows, int64_t len, int64_t* __restrict__ offsets) {
  MOE_GRID_STRIDE(r, rows + 1) offsets[r] = r * len;
}

// idx [rows, k] = the first k of each sorted row of `sorted` [rows, len].
__global__ void first_k_kernel(const int64_t* __restrict__ sorted, int64_t rows, int64_t len, int64_t k,
                               int64_t* __restrict__ idx) {
  MOE_GRID_STRIDE(e, rows * k) idx[e] = sorted[(e / k) * len + e % k];
}

// out[p] = x[p with p[dim] := index[p]]; ix: out, index and x (x's stride
// along dim zeroed) over index's shape.
template <typename T>
__global__ void gather_kernel(const T* __restrict__ x, int64_t sx, const int64_t* __restrict__ index,
                              T* __restrict__ out, math::StridedIndex<3> ix, int64_t n) {
  MOE_GRID_STRIDE(e, n) {
    int64_t off[3];
    ix.offsets(e, off);
    out[off[0]] = x[off[2] + index[off[1]] * sx];
  }
}

// One thread per line along dim (ix over index's shape with dim's size 1):
// the line's additions in order.
template <typename T>
__global__ void scatter_add_kernel(T* __restrict__ out, int64_t so, const int64_t* __restrict__ index, int64_t si,
                                   const T* __restrict__ src, int64_t ss, int64_t len, math::StridedIndex<3> ix,
                                   int64_t lines) {
  MOE_GRID_STRIDE(e, lines) {
    int64_t off[3];
    ix.offsets(e, off);
    for (int64_t t = 0; t < len; ++t) out[off[0] + index[off[1] + t * si] * so] += src[off[2] + t * ss];
  }
}

template <typename E>
__global__ void index_select_kernel(const E* __restrict__ x, const int64_t* __restrict__ index, int64_t m, int64_t n,
                                    int64_t post, E* __restrict__ out, int64_t total) {
  MOE_GRID_STRIDE(e, total) {
    const int64_t c = e % post, k = (e / post) % m, p = e / (post * m);
    out[e] = x[(p * n + index[k]) * post + c];
  }
}

template <typename T>
__global__ void index_add_kernel(T* __restrict__ out, const int64_t* __restrict__ index, int64_t m, int64_t n,
                                 int64_t post, const T* __restrict__ src, int64_t columns) {
  MOE_GRID_STRIDE(u, columns) {
    const int64_t p = u / post, c = u - p * post;
    for (int64_t k = 0; k < m; ++k) out[(p * n + index[k]) * post + c] += src[(p * m + k) * post + c];
  }
}

__global__ void one_hot_kernel(const int64_t* __restrict__ ids, int64_t C, int64_t* __restrict__ out, int64_t total) {
  MOE_GRID_STRIDE(e, total) {
    const int64_t i = e / C, c = e - i * C;
    out[e] = ids[i] == c ? 1 : 0;
  }
}

__global__ void bincount_kernel(const int64_t* __restrict__ ids, int64_t n, unsigned long long* __restrict__ out) {
  MOE_GRID_STRIDE(i, n) atomicAdd(out + ids[i], 1ull);
}

// expert_order's sort pairs: key = the expert, or E for a dropped
// assignment (those sort last); value = the assignment.
MOE_HD bool kept(const bool* keep, int64_t a) { return keep == nullptr || keep[a]; }

__global__ void expert_keys_kernel(const int32_t* __restrict__ experts, const bool* __restrict__ keep, int64_t A,
                                   int64_t E, uint32_t* __restrict__ keys, int64_t* __restrict__ index) {
  MOE_GRID_STRIDE(a, A) {
    keys[a] = kept(keep, a) ? uint32_t(experts[a]) : uint32_t(E);
    index[a] = a;
  }
}

__global__ void expert_tokens_kernel(const int64_t* __restrict__ sorted, int64_t n, int64_t K,
                                     int64_t* __restrict__ assignments, int64_t* __restrict__ tokens) {
  MOE_GRID_STRIDE(s, n) {
    assignments[s] = sorted[s];
    tokens[s] = sorted[s] / K;
  }
}

// Lines of `shape` along `dim`: the index over `strides` with dim's size 1.
template <int N>
math::StridedIndex<N> lines_index(const char* op, Shape shape, int64_t dim, const std::array<Shape, N>& strides) {
  shape[size_t(dim)] = 1;
  return strided_index<N>(op, shape, strides);
}

}  // namespace

void first_out_of_range(const Tensor& idx, int64_t lo, int64_t hi, const Tensor& pos) {
  DeviceGuard on(idx);
  MOE_LAUNCH(first_out_of_range_kernel, 1, kBlock, 0, current_stream())(idx.device_data<int64_t>(), idx.numel(), lo, hi,
                                                               pos.device_data<int64_t>());
  MOE_CUDA_CHECK(cudaGetLastError());
}

void sorted_indices(const Tensor& x, int64_t rows, int64_t len, int64_t k, bool descending, const Tensor& idx) {
  if (rows * len == 0 || k == 0) return;
  DeviceGuard on(x);
  const int64_t n = rows * len;
  const Device dev = x.device();
  dtype_switch_native(x.dtype(), "sort", [&](auto tag) {
    using T = typename decltype(tag)::type;
    using K = sort_key::Key<T>;
    using S = std::conditional_t<sizeof(K) == 8, int64_t, int32_t>;  // the key's storage dtype
    const DType kd = sizeof(K) == 8 ? DType::i64 : DType::i32;
    const Tensor keys = empty({n}, kd, dev), sorted_keys = empty({n}, kd, dev), positions = empty({n}, DType::i64, dev);
    const Tensor offsets = empty({rows + 1}, DType::i64, dev);
    const Tensor sorted = k == len ? idx : empty({n}, DType::i64, dev);
    K* kp = reinterpret_cast<K*>(keys.device_data<S>());
    MOE_LAUNCH(sort_keys_kernel<T>, grid_stride_blocks(n, kBlock), kBlock, 0, current_stream())(
        x.device_data<T>(), n, len, descending, kp, positions.device_data<int64_t>());
    MOE_LAUNCH(row_offsets_kernel, grid_stride_blocks(rows + 1, kBlock), kBlock, 0, current_stream())(
        rows, len, offsets.device_data<int64_t>());
    MOE_CUDA_CHECK(cudaGetLastError());
    sort::segmented_pairs(dev, kp, reinterpret_cast<K*>(sorted_keys.device_data<S>()),
                          positions.device_data<int64_t>(), sorted.device_data<int64_t>(), n, rows,
                          offsets.device_data<int64_t>());
    if (k < len)
      MOE_LAUNCH(first_k_kernel, grid_stride_blocks(rows * k, kBlock), kBlock, 0, current_stream())(
          sorted.device_data<int64_t>(), rows, len, k, idx.device_data<int64_t>());
  });
  MOE_CUDA_CHECK(cudaGetLastError());
}

void gather(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& out) {
  const int64_t n = index.numel();
  if (n == 0) return;
  DeviceGuard on(x);
  Shape xs = x.strides();
  const int64_t sx = xs[size_t(dim)];
  xs[size_t(dim)] = 0;
  const math::StridedIndex<3> ix = strided_index<3>("gather", index.shape(), {out.strides(), index.strides(), xs});
  dtype_switch_storage(x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    auto* k = &gather_kernel<T>;
    MOE_LAUNCH(k, grid_stride_blocks(n, kBlock), kBlock, 0, current_stream())(
        x.device_data<T>(), sx, index.device_data<int64_t>(), out.device_data<T>(), ix, n);
  });
  MOE_CUDA_CHECK(cudaGetLastError());
}

void scatter_add(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src) {
  if (index.numel() == 0) return;
  DeviceGuard on(out);
  const int64_t len = index.shape()[size_t(dim)], lines = index.numel() / len;
  const math::StridedIndex<3> ix =
      lines_index<3>("scatter_add", index.shape(), dim, {out.strides(), index.strides(), src.strides()});
  const int64_t so = out.strides()[size_t(dim)], si = index.strides()[size_t(dim)], ss = src.strides()[size_t(dim)];
  dtype_switch_native(out.dtype(), "scatter_add", [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (std::is_same_v<T, bool>) {
      MOE_CHECK(false, "scatter_add: cannot add bool tensors");
    } else {
      auto* k = &scatter_add_kernel<T>;
      MOE_LAUNCH(k, grid_stride_blocks(lines, kBlock), kBlock, 0, current_stream())(
          out.device_data<T>(), so, index.device_data<int64_t>(), si, src.device_data<T>(), ss, len, ix, lines);
    }
  });
  MOE_CUDA_CHECK(cudaGetLastError());
}

void index_select(const Tensor& x, const Tensor& index, int64_t pre, int64_t n, int64_t post, const Tensor& out) {
  const int64_t m = index.numel(), total = pre * m * post;
  if (total == 0) return;
  DeviceGuard on(x);
  dtype_switch_storage(x.dtype(), [&](auto tag) {
    using E = typename decltype(tag)::type;
    auto* k = &index_select_kernel<E>;
    MOE_LAUNCH(k, grid_stride_blocks(total, kBlock), kBlock, 0, current_stream())(
        x.device_data<E>(), index.device_data<int64_t>(), m, n, post, out.device_data<E>(), total);
  });
  MOE_CUDA_CHECK(cudaGetLastError());
}

void index_add(const Tensor& out, const Tensor& index, int64_t pre, int64_t n, int64_t post, const Tensor& src) {
  const int64_t m = index.numel(), columns = pre * post;
  if (m == 0 || columns == 0) return;
  DeviceGuard on(out);
  dtype_switch_native(out.dtype(), "index_add", [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (std::is_same_v<T, bool>) {
      MOE_CHECK(false, "index_add: cannot add bool tensors");
    } else {
      auto* k = &index_add_kernel<T>;
      MOE_LAUNCH(k, grid_stride_blocks(columns, kBlock), kBlock, 0, current_stream())(
          out.device_data<T>(), index.device_data<int64_t>(), m, n, post, src.device_data<T>(), columns);
    }
  });
  MOE_CUDA_CHECK(cudaGetLastError());
}

void one_hot(const Tensor& ids, const Tensor& out) {
  const int64_t C = out.shape().back(), total = ids.numel() * C;
  if (total == 0) return;
  DeviceGuard on(ids);
  MOE_LAUNCH(one_hot_kernel, grid_stride_blocks(total, kBlock), kBlock, 0, current_stream())(
      ids.device_data<int64_t>(), C, out.device_data<int64_t>(), total);
  MOE_CUDA_CHECK(cudaGetLastError());
}

void bincount(const Tensor& ids, const Tensor& out) {
  const int64_t n = ids.numel();
  if (n == 0) return;
  DeviceGuard on(ids);
  static_assert(sizeof(unsigned long long) == sizeof(int64_t));
  MOE_LAUNCH(bincount_kernel, grid_stride_blocks(n, kBlock), kBlock, 0, current_stream())(
      ids.device_data<int64_t>(), n, reinterpret_cast<unsigned long long*>(out.device_data<int64_t>()));
  MOE_CUDA_CHECK(cudaGetLastError());
}

void expert_order(const Tensor& experts, const Tensor& keep, int64_t E, int64_t K, const Tensor& assignments,
                  const Tensor& tokens) {
  const int64_t A = experts.numel(), n = assignments.numel();
  if (A == 0 || n == 0) return;
  MOE_CHECK(n <= A, "expert_order: ", n, " output slots for ", A, " assignments");
  MOE_CHECK(E < (int64_t(1) << 31), "expert_order: ", E, " experts do not fit a 32-bit sort key");
  DeviceGuard on(experts);
  const Device dev = experts.device();
  const Tensor keys = empty({A}, DType::i32, dev), sorted_keys = empty({A}, DType::i32, dev);
  const Tensor index = empty({A}, DType::i64, dev), sorted = empty({A}, DType::i64, dev);
  uint32_t* kp = reinterpret_cast<uint32_t*>(keys.device_data<int32_t>());
  MOE_LAUNCH(expert_keys_kernel, grid_stride_blocks(A, kBlock), kBlock, 0, current_stream())(
      experts.device_data<int32_t>(), keep.defined() ? keep.device_data<bool>() : nullptr, A, E, kp,
      index.device_data<int64_t>());
  MOE_CUDA_CHECK(cudaGetLastError());
  int bits = 1;  // enough for the keys 0..E
  while (bits < 32 && (int64_t(1) << bits) <= E) ++bits;
  sort::pairs(dev, kp, reinterpret_cast<uint32_t*>(sorted_keys.device_data<int32_t>()), index.device_data<int64_t>(),
              sorted.device_data<int64_t>(), A, bits);
  MOE_LAUNCH(expert_tokens_kernel, grid_stride_blocks(n, kBlock), kBlock, 0, current_stream())(
      sorted.device_data<int64_t>(), n, K, assignments.device_data<int64_t>(), tokens.device_data<int64_t>());
  MOE_CUDA_CHECK(cudaGetLastError());
}

}  // namespace moe::cuda
