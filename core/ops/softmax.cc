// softmax and log_softmax along one dim, each with its fused backward.
#include "core/backend/softmax.h"
#include "core/ops/op_utils.h"

namespace moe {

namespace {

// x in its compute dtype with `dim` moved last, contiguous: rows of the
// normalised dim (no autograd).
Tensor to_rows(const Tensor& x, int64_t dim) {
  NoGradGuard g;
  Tensor t = to_compute(x.detach());
  if (x.dim() > 1 && dim != x.dim() - 1) t = transpose(t, dim, -1);
  return contiguous(t);
}

// Inverse of to_rows: the normalised dim back in place, contiguous, dtype t.
Tensor from_rows(const Tensor& r, int64_t dim, DType t) {
  NoGradGuard g;
  Tensor y = r;
  if (r.dim() > 1 && dim != r.dim() - 1) y = contiguous(transpose(r, dim, -1));
  return from_compute(y, t);
}

Tensor softmax_impl(const Tensor& x, int64_t dim_in, bool log, const char* name) {
  check_defined(name, x);
  check_floating(name, x);
  const int64_t dim = wrap_dim(dim_in, x.dim(), name);
  const int64_t n = x.dim() == 0 ? 1 : x.shape()[dim];
  const int64_t rows = n == 0 ? 0 : x.numel() / n;
  Tensor xr = to_rows(x, dim);
  Tensor yr = empty(xr.shape(), xr.dtype(), x.device());
  backend::softmax_rows(xr, yr, rows, n, log);
  Tensor out = from_rows(yr, dim, x.dtype());
  if (needs_grad({x})) {
    SavedTensor so(out, name);
    attach_grad_fn(name, {out}, {x}, [so, dim, n, rows, log](std::vector<Tensor>& g) {
      Tensor y = so.get();
      Tensor yr = to_rows(y, dim), gr = to_rows(g[0], dim);
      Tensor gx = empty(yr.shape(), yr.dtype(), y.device());
      backend::softmax_rows_backward(yr, gr, gx, rows, n, log);
      return std::vector<Tensor>{from_rows(gx, dim, y.dtype())};
    });
  }
  return out;
}

}  // namespace

// Backward: gx = y * (g - sum(g * y)) along dim.
Tensor softmax(const Tensor& x, int64_t dim) { return softmax_impl(x, dim, false, "softmax"); }

// Backward: gx = g - exp(y) * sum(g) along dim.
Tensor log_softmax(const Tensor& x, int64_t dim) { return softmax_impl(x, dim, true, "log_softmax"); }

}  // namespace moe
