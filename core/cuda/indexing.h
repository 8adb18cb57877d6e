#pragma once
// CUDA kernels of the indexing and permutation family (core/backend/indexing.h documents each function).
// Plain C++ declarations, so every build sees them: without a kernel, or
// without CUDA, the definition is a stub that throws (core/cuda/stubs.cc);
// a kernel replaces its stub in core/cuda/indexing.cu.
#include <cstdint>

#include "core/tensor.h"

namespace moe::cuda {

void first_out_of_range(const Tensor& idx, int64_t lo, int64_t hi, const Tensor& pos);
void sorted_indices(const Tensor& x, int64_t rows, int64_t len, int64_t k, bool descending, const Tensor& idx);
void gather(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& out);
void scatter_add(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src);
void index_select(const Tensor& x, const Tensor& index, int64_t pre, int64_t n, int64_t post, const Tensor& out);
void index_add(const Tensor& out, const Tensor& index, int64_t pre, int64_t n, int64_t post, const Tensor& src);
void one_hot(const Tensor& ids, const Tensor& out);
void bincount(const Tensor& ids, const Tensor& out);
void expert_order(const Tensor& experts, const Tensor& keep, int64_t E, int64_t K, const Tensor& assignments,
                  const Tensor& tokens);

}  // namespace moe::cuda
