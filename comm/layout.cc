#include "comm/layout.h"

#include <vector>

#include "core/error.h"
#include "core/ops.h"

namespace moe::comm {

Tensor dim_to_front(const Tensor& x, int64_t d) {
  if (d == 0) return contiguous(x);
  std::vector<int64_t> perm{d};
  for (int64_t i = 0; i < x.dim(); ++i)
    if (i != d) perm.push_back(i);
  return contiguous(permute(x, perm));
}

Tensor front_to_dim(const Tensor& y, int64_t d) {
  if (d == 0) return contiguous(y);
  std::vector<int64_t> perm;
  for (int64_t i = 0; i < y.dim(); ++i) perm.push_back(i < d ? i + 1 : (i == d ? 0 : i));
  return contiguous(permute(y, perm));
}

namespace {
template <typename T>
void divide(Tensor& t, int64_t n) {
  T* p = t.data<T>();
  const T div = T(n);
  for (int64_t i = 0, e = t.numel(); i < e; ++i) p[i] /= div;
}
}  // namespace

void divide_in_place(Tensor& t, int64_t n) {
  if (n == 1 || t.numel() == 0) return;
  switch (t.dtype()) {
    case DType::f32: divide<float>(t, n); break;
    case DType::f64: divide<double>(t, n); break;
    case DType::i32: divide<int32_t>(t, n); break;
    case DType::i64: divide<int64_t>(t, n); break;
    default: MOE_CHECK(false, "avg reduction: cannot divide a ", t.dtype(), " tensor");
  }
}

int64_t row_numel(const Tensor& x) {
  int64_t n = 1;
  for (int64_t i = 1; i < x.dim(); ++i) n *= x.size(i);
  return n;
}

}  // namespace moe::comm
