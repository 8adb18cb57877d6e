#pragma once
// Indexing and permutation family: range checks of index tensors, sorting
// (topk, sort: the MoE router's permutation), gather / scatter_add,
// index_select / index_add, one_hot and bincount. Kernels:
// core/cpu/indexing.h, core/cuda/indexing.h. Index arguments are contiguous
// i64 tensors that the op has range-checked (with first_out_of_range).
#include <cstdint>

#include "core/tensor.h"

namespace moe::backend {

// pos (0-d i64, idx's device) = the logical position of the first value of
// idx (contiguous i64) outside [lo, hi), or -1 when all are inside.
void first_out_of_range(const Tensor& idx, int64_t lo, int64_t hi, const Tensor& pos);

// x: contiguous [rows, len] of a native dtype (f32/f64/i32/i64/b8). Writes to
// idx (contiguous i64 [rows, k]) the positions of the first k elements of
// each row in sorted order: stable (equal elements keep index order, also
// when descending); NaN ranks above every number, NaNs equal each other.
void sorted_indices(const Tensor& x, int64_t rows, int64_t len, int64_t k, bool descending, const Tensor& idx);

// out[p] = x[p with p[dim] := index[p]] for every position p of index (=
// out's shape). Any dtype (elements are moved, not converted); any strides.
void gather(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& out);
// out[p with p[dim] := index[p]] += src[p] for every position p of index.
// out and src: same dtype, f32/f64/i32/i64, any strides. Each line along dim
// is added in order.
void scatter_add(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src);

// x, out contiguous, viewed as [pre, n, post] and [pre, m, post] with
// m = index.numel(): out[:, k, :] = x[:, index[k], :]. Any dtype.
void index_select(const Tensor& x, const Tensor& index, int64_t pre, int64_t n, int64_t post, const Tensor& out);
// out, src contiguous, [pre, n, post] and [pre, m, post]:
// out[:, index[k], :] += src[:, k, :] for k = 0..m-1 in that order.
void index_add(const Tensor& out, const Tensor& index, int64_t pre, int64_t n, int64_t post, const Tensor& src);

// out: contiguous i64 [ids.numel(), C]; row i = one-hot of ids[i].
void one_hot(const Tensor& ids, const Tensor& out);
// out: contiguous i64, zero-filled, longer than every id: out[ids[i]] += 1.
void bincount(const Tensor& ids, const Tensor& out);

// The MoE permutation: a stable sort of assignments by expert.
// experts contiguous i32 [A] in [0, E); keep contiguous b8 [A] (undefined:
// all kept). assignments and tokens (contiguous i64, one entry per kept
// assignment) get the kept a in order of (expert, a), and a / K.
void expert_order(const Tensor& experts, const Tensor& keep, int64_t E, int64_t K, const Tensor& assignments,
                  const Tensor& tokens);

}  // namespace moe::backend
