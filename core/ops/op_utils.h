#pragma once
// Helpers shared by the op implementations in core/ops/.
#include <vector>

#include "core/autograd.h"
#include "core/error.h"
#include "core/ops.h"

namespace moe {

inline void check_same_dtype(const char* op, const Tensor& a, const Tensor& b) {
  MOE_CHECK(a.dtype() == b.dtype(), op, ": dtype mismatch: ", a.dtype(), shape_str(a.shape()), " vs ",
            b.dtype(), shape_str(b.shape()));
}
// Every op with several tensor inputs calls it for each pair it combines
// (operands, weights, index tensors, targets); the message names both devices.
inline void check_same_device(const char* op, const Tensor& a, const Tensor& b) {
  MOE_CHECK(a.device() == b.device(), op, ": tensors on different devices: ", a.str(), " and ", b.str());
}
inline void check_floating(const char* op, const Tensor& a) {
  MOE_CHECK(is_floating(a.dtype()), op, ": needs a floating tensor, got ", a.str());
}
inline void check_defined(const char* op, const Tensor& a) {
  MOE_CHECK(a.defined(), op, ": got an undefined tensor");
}
// The usual checks of a two-operand floating op: both defined, a floating,
// same dtype and device.
inline void check_float_operands(const char* op, const Tensor& a, const Tensor& b) {
  check_defined(op, a);
  check_defined(op, b);
  check_floating(op, a);
  check_same_dtype(op, a, b);
  check_same_device(op, a, b);
}

// The value of a one-element i64 tensor (e.g. a position a backend check
// wrote) read on the host: a host_copy, so a device-to-host transfer of 8
// bytes for a device tensor.
inline int64_t host_i64(const Tensor& t) {
  MOE_CHECK(t.numel() == 1 && t.dtype() == DType::i64, "host_i64: needs one i64 element, got ", t.str());
  return *host_copy(t).data<int64_t>();
}
// Element `pos` of x's logical (row-major) order as i64 (x of an integer
// dtype), read on the host: for error messages naming a bad index.
inline int64_t host_i64_at(const Tensor& x, int64_t pos) {
  NoGradGuard g;
  return host_i64(cast(reshape(x.detach(), {-1}).select(0, pos), DType::i64));
}

// The shapes of a grouped product (grouped_matmul, fp8_grouped_matmul): x
// [R, K], w [G, K, N], G group sizes, none negative, summing to R.
inline void check_grouped_operands(const char* op, const Tensor& x, const Tensor& w,
                                   const std::vector<int64_t>& group_rows) {
  MOE_CHECK(x.dim() == 2 && w.dim() == 3 && x.shape()[1] == w.shape()[1], op,
            ": needs x [R, K] and w [G, K, N], got ", x.str(), " and ", w.str());
  MOE_CHECK(int64_t(group_rows.size()) == w.shape()[0], op, ": ", group_rows.size(), " group sizes for ", w.str());
  int64_t total = 0;
  for (int64_t r : group_rows) {
    MOE_CHECK(r >= 0, op, ": negative group size ", r);
    total += r;
  }
  MOE_CHECK(total == x.shape()[0], op, ": group sizes sum to ", total, " but x has ", x.shape()[0], " rows");
}

// Compute dtype of floating kernels: f64 stays f64, everything else runs in f32.
inline DType compute_dtype(DType t) { return t == DType::f64 ? DType::f64 : DType::f32; }
// x itself when already in its compute dtype, else an f32 copy (no autograd).
inline Tensor to_compute(const Tensor& x) {
  if (x.dtype() == compute_dtype(x.dtype())) return x;
  NoGradGuard g;
  return cast(x.detach(), compute_dtype(x.dtype()));
}
// Rounds a compute-dtype result back to the input dtype (no autograd).
inline Tensor from_compute(const Tensor& y, DType t) {
  if (y.dtype() == t) return y;
  NoGradGuard g;
  return cast(y, t);
}

}  // namespace moe
