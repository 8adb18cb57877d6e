#include "core/backend/indexing.h"

#include "core/backend/kernel_device.h"
#include "core/cpu/indexing.h"
#include "core/cuda/indexing.h"

namespace moe::backend {

void first_out_of_range(const Tensor& idx, int64_t lo, int64_t hi, const Tensor& pos) {
  MOE_CHECK(pos.dim() == 0 && pos.dtype() == DType::i64, "backend first_out_of_range: pos must be a 0-d i64, got ",
            pos.str());
  switch (kernel_device("first_out_of_range", idx, pos)) {
    case DeviceType::cpu: *pos.data<int64_t>() = cpu::find_out_of_range(idx, lo, hi); return;
    case DeviceType::cuda: return cuda::first_out_of_range(idx, lo, hi, pos);
  }
  unknown_device("first_out_of_range", idx.device().type);
}

void sorted_indices(const Tensor& x, int64_t rows, int64_t len, int64_t k, bool descending, const Tensor& idx) {
  switch (kernel_device("sorted_indices", x, idx)) {
    case DeviceType::cpu: return cpu::sorted_indices(x, rows, len, k, descending, idx);
    case DeviceType::cuda: return cuda::sorted_indices(x, rows, len, k, descending, idx);
  }
  unknown_device("sorted_indices", x.device().type);
}

void gather(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& out) {
  switch (kernel_device("gather", x, index, out)) {
    case DeviceType::cpu: return cpu::gather(x, dim, index, out);
    case DeviceType::cuda: return cuda::gather(x, dim, index, out);
  }
  unknown_device("gather", x.device().type);
}

void scatter_add(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src) {
  switch (kernel_device("scatter_add", out, index, src)) {
    case DeviceType::cpu: return cpu::scatter_add(out, dim, index, src);
    case DeviceType::cuda: return cuda::scatter_add(out, dim, index, src);
  }
  unknown_device("scatter_add", out.device().type);
}

void index_select(const Tensor& x, const Tensor& index, int64_t pre, int64_t n, int64_t post, const Tensor& out) {
  switch (kernel_device("index_select", x, index, out)) {
    case DeviceType::cpu: return cpu::index_select(x, index, pre, n, post, out);
    case DeviceType::cuda: return cuda::index_select(x, index, pre, n, post, out);
  }
  unknown_device("index_select", x.device().type);
}

void index_add(const Tensor& out, const Tensor& index, int64_t pre, int64_t n, int64_t post, const Tensor& src) {
  switch (kernel_device("index_add", out, index, src)) {
    case DeviceType::cpu: return cpu::index_add(out, index, pre, n, post, src);
    case DeviceType::cuda: return cuda::index_add(out, index, pre, n, post, src);
  }
  unknown_device("index_add", out.device().type);
}

void one_hot(const Tensor& ids, const Tensor& out) {
  switch (kernel_device("one_hot", ids, out)) {
    case DeviceType::cpu: return cpu::one_hot(ids, out);
    case DeviceType::cuda: return cuda::one_hot(ids, out);
  }
  unknown_device("one_hot", ids.device().type);
}

void bincount(const Tensor& ids, const Tensor& out) {
  switch (kernel_device("bincount", ids, out)) {
    case DeviceType::cpu: return cpu::bincount(ids, out);
    case DeviceType::cuda: return cuda::bincount(ids, out);
  }
  unknown_device("bincount", ids.device().type);
}

void expert_order(const Tensor& experts, const Tensor& keep, int64_t E, int64_t K, const Tensor& assignments,
                  const Tensor& tokens) {
  const DeviceType d = keep.defined() ? kernel_device("expert_order", experts, keep, assignments, tokens)
                                      : kernel_device("expert_order", experts, assignments, tokens);
  switch (d) {
    case DeviceType::cpu: return cpu::expert_order(experts, keep, E, K, assignments, tokens);
    case DeviceType::cuda: return cuda::expert_order(experts, keep, E, K, assignments, tokens);
  }
  unknown_device("expert_order", experts.device().type);
}

}  // namespace moe::backend
