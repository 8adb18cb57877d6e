// CUDA kernels of the indexing and permutation family. Every addition runs
// in the CPU's order (scatter_add: a thread per line along dim; index_add:
// a thread per column over the index in order), so results equal the CPU's
// bit for bit and no floating atomics are used; bincount's integer atomics
// give exact counts. sorted_indices ranks each element against its row
// (O(len^2) per row: fine for the router's top-k over experts; a radix sort
// is the path for long rows). expert_order is a chunked counting sort.
#include <type_traits>

#include "core/cuda/block_reduce.h"
#include "core/cuda/indexing.h"
#include "core/cuda/launch.h"
#include "core/dtype_switch.h"
#include "core/ops.h"

namespace moe::cuda {
namespace {

__global__ void first_out_of_range_kernel(const int64_t* __restrict__ idx, int64_t n, int64_t lo, int64_t hi,
                                          int64_t* __restrict__ pos) {
  __shared__ int64_t s[kBlock];
  const int64_t first = first_where(n, [&](int64_t i) { return idx[i] < lo || idx[i] >= hi; }, s);
  if (threadIdx.x == 0) *pos = first;
}

// The strict total order of sorted_indices: values (NaN above every number,
// NaNs equal), then index.
template <typename T>
MOE_HD bool sorts_before(T a, int64_t i, T b, int64_t j, bool descending) {
  int c;
  if constexpr (std::is_floating_point_v<T>) {
    const bool na = a != a, nb = b != b;
    c = (na || nb) ? int(na) - int(nb) : int(a > b) - int(a < b);
  } else {
    c = int(a > b) - int(a < b);
  }
  return c != 0 ? (descending ? c > 0 : c < 0) : i < j;
}

template <typename T>
__global__ void sorted_indices_kernel(const T* __restrict__ x, int64_t rows, int64_t len, int64_t k, bool descending,
                                      int64_t* __restrict__ idx) {
  MOE_GRID_STRIDE(e, rows * len) {
    const int64_t r = e / len, i = e - r * len;
    const T* v = x + r * len;
    int64_t rank = 0;
    for (int64_t j = 0; j < len; ++j) rank += sorts_before(v[j], j, v[i], i, descending) ? 1 : 0;
    if (rank < k) idx[r * k + rank] = i;
  }
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

// expert_order as a chunked counting sort, integers only: per chunk of
// kSortChunk assignments each thread counts one expert's kept entries; one
// thread scans the [expert][chunk] counts into start slots; per chunk each
// thread places its expert's entries in order. Every slot is fixed by
// (expert, a), so the result is the CPU's exactly.
constexpr int64_t kSortChunk = 2048;

MOE_HD bool kept(const bool* keep, int64_t a) { return keep == nullptr || keep[a]; }

__global__ void expert_chunk_counts_kernel(const int32_t* __restrict__ experts, const bool* __restrict__ keep,
                                           int64_t A, int64_t E, int64_t* __restrict__ counts) {
  const int64_t c = blockIdx.x, lo = c * kSortChunk, hi = lo + kSortChunk < A ? lo + kSortChunk : A;
  for (int64_t e = threadIdx.x; e < E; e += blockDim.x) {
    int64_t n = 0;
    for (int64_t a = lo; a < hi; ++a) n += (experts[a] == e && kept(keep, a)) ? 1 : 0;
    counts[e * gridDim.x + c] = n;
  }
}

// counts [E][C] -> exclusive starts in (expert, chunk) order, in place.
__global__ void expert_chunk_scan_kernel(int64_t* __restrict__ counts, int64_t n) {
  if (blockIdx.x != 0 || threadIdx.x != 0) return;
  int64_t run = 0;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t v = counts[i];
    counts[i] = run;
    run += v;
  }
}

__global__ void expert_place_kernel(const int32_t* __restrict__ experts, const bool* __restrict__ keep, int64_t A,
                                    int64_t E, int64_t K, const int64_t* __restrict__ starts, int64_t n_out,
                                    int64_t* __restrict__ assignments, int64_t* __restrict__ tokens) {
  const int64_t c = blockIdx.x, lo = c * kSortChunk, hi = lo + kSortChunk < A ? lo + kSortChunk : A;
  for (int64_t e = threadIdx.x; e < E; e += blockDim.x) {
    int64_t slot = starts[e * gridDim.x + c];
    for (int64_t a = lo; a < hi; ++a)
      if (experts[a] == e && kept(keep, a) && slot < n_out) {
        assignments[slot] = a;
        tokens[slot] = a / K;
        ++slot;
      }
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
  dtype_switch_native(x.dtype(), "sort", [&](auto tag) {
    using T = typename decltype(tag)::type;
    auto* kern = &sorted_indices_kernel<T>;
    MOE_LAUNCH(kern, grid_stride_blocks(rows * len, kBlock), kBlock, 0, current_stream())(
        x.device_data<T>(), rows, len, k, descending, idx.device_data<int64_t>());
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
  const int64_t A = experts.numel();
  if (A == 0 || assignments.numel() == 0) return;
  DeviceGuard on(experts);
  const int64_t chunks = (A + kSortChunk - 1) / kSortChunk;
  MOE_CHECK(chunks <= 65535, "expert_order: ", A, " assignments exceed the grid (", 65535 * kSortChunk, ")");
  const Tensor counts = empty({E, chunks}, DType::i64, experts.device());
  const bool* kp = keep.defined() ? keep.device_data<bool>() : nullptr;
  const unsigned grid = unsigned(chunks);
  MOE_LAUNCH(expert_chunk_counts_kernel, grid, kBlock, 0, current_stream())(
      experts.device_data<int32_t>(), kp, A, E, counts.device_data<int64_t>());
  MOE_LAUNCH(expert_chunk_scan_kernel, 1, 1, 0, current_stream())(counts.device_data<int64_t>(), E * chunks);
  MOE_LAUNCH(expert_place_kernel, grid, kBlock, 0, current_stream())(
      experts.device_data<int32_t>(), kp, A, E, K, counts.device_data<int64_t>(), assignments.numel(),
      assignments.device_data<int64_t>(), tokens.device_data<int64_t>());
  MOE_CUDA_CHECK(cudaGetLastError());
}

}  // namespace moe::cuda
