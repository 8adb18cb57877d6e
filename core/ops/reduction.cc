// Reductions: sum, mean, amax over dims; max with index and cumsum along one dim.
#include <algorithm>
#include <numeric>

#include "core/backend/reduce.h"
#include "core/ops/op_utils.h"

namespace moe {

namespace {

struct ReducePlan {
  std::vector<int64_t> dims;  // sorted, unique
  Shape kept_shape;           // output shape with keepdim
  Shape out_shape;            // output shape as requested
  int64_t rows = 1, len = 1;
};

ReducePlan plan_reduce(const Tensor& x, const std::vector<int64_t>& dims_in, bool keepdim, const char* op) {
  ReducePlan p;
  std::vector<bool> reduced(size_t(x.dim()), dims_in.empty());
  for (int64_t d : dims_in) {
    const int64_t w = wrap_dim(d, x.dim(), op);
    MOE_CHECK(!reduced[size_t(w)], op, ": dim ", w, " listed twice");
    reduced[size_t(w)] = true;
  }
  for (int64_t d = 0; d < x.dim(); ++d) {
    if (reduced[size_t(d)]) {
      p.dims.push_back(d);
      p.kept_shape.push_back(1);
      if (keepdim) p.out_shape.push_back(1);
      p.len *= x.shape()[d];
    } else {
      p.kept_shape.push_back(x.shape()[d]);
      p.out_shape.push_back(x.shape()[d]);
      p.rows *= x.shape()[d];
    }
  }
  return p;
}

// x permuted so reduced dims come last, made contiguous: rows of length len.
Tensor rows_view(const Tensor& x, const ReducePlan& p) {
  std::vector<int64_t> order;
  for (int64_t d = 0; d < x.dim(); ++d)
    if (!std::binary_search(p.dims.begin(), p.dims.end(), d)) order.push_back(d);
  order.insert(order.end(), p.dims.begin(), p.dims.end());
  NoGradGuard g;
  return contiguous(permute(x.detach(), order));
}

}  // namespace

// Raw reduction used by sum and amax (no autograd).
static Tensor reduce_raw(backend::RowReduce op, const Tensor& x, const ReducePlan& p, const char* name) {
  Tensor xc = rows_view(to_compute(x), p);
  Tensor out = empty(p.out_shape, xc.dtype(), x.device());
  if (p.len == 0) {
    MOE_CHECK(op == backend::RowReduce::sum, name, ": reduction over an empty dim of ", x.str());
    NoGradGuard g;
    fill_(out, 0.0);
  } else {
    backend::reduce_rows(op, xc, p.rows, p.len, out);
  }
  return from_compute(out, x.dtype());
}

Tensor sum_of_squares(const Tensor& x) {
  check_defined("sum_of_squares", x);
  check_floating("sum_of_squares", x);
  NoGradGuard no_grad;
  const Tensor xc = contiguous(to_compute(x.detach()));
  Tensor out = zeros({1}, DType::f64, x.device());
  if (xc.numel() > 0) backend::reduce_rows(backend::RowReduce::sum_squares, xc, 1, xc.numel(), out);
  return reshape(out, {});
}

Tensor sum(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  check_defined("sum", x);
  check_floating("sum", x);
  const ReducePlan p = plan_reduce(x, dims, keepdim, "sum");
  Tensor out = reduce_raw(backend::RowReduce::sum, x, p, "sum");
  if (needs_grad({x})) {
    Shape in_shape = x.shape(), kept = p.kept_shape;
    attach_grad_fn("sum", {out}, {x}, [in_shape, kept](std::vector<Tensor>& g) {
      return std::vector<Tensor>{contiguous(expand(reshape(g[0], kept), in_shape))};
    });
  }
  return out;
}

Tensor mean(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  const ReducePlan p = plan_reduce(x, dims, keepdim, "mean");
  MOE_CHECK(p.len > 0, "mean: reduction over an empty dim of ", x.str());
  return mul(sum(x, dims, keepdim), 1.0 / double(p.len));
}

// Ties share the gradient evenly (as torch.amax does): each of the k tied
// maxima of a reduced group gets g / k.
Tensor amax(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  check_defined("amax", x);
  check_floating("amax", x);
  const ReducePlan p = plan_reduce(x, dims, keepdim, "amax");
  MOE_CHECK(p.len > 0, "amax: reduction over an empty dim of ", x.str());
  Tensor out = reduce_raw(backend::RowReduce::max, x, p, "amax");
  if (needs_grad({x})) {
    SavedTensor sx(x, "amax"), so(out, "amax");
    Shape kept = p.kept_shape;
    std::vector<int64_t> rdims = p.dims;
    attach_grad_fn("amax", {out}, {x}, [sx, so, kept, rdims](std::vector<Tensor>& g) {
      Tensor x = sx.get();
      Tensor hit = cast(eq(x, reshape(so.get(), kept)), x.dtype());
      // rdims is empty only for a 0-d x, where sum over all dims is the same.
      Tensor ties = sum(hit, rdims, true);
      return std::vector<Tensor>{mul(hit, div(reshape(g[0], kept), ties))};
    });
  }
  return out;
}

namespace {

// x seen as [outer, n, inner] around dim.
struct DimSplit {
  int64_t outer = 1, n = 1, inner = 1;
};
DimSplit split_at(const Tensor& x, int64_t dim) {
  DimSplit s;
  for (int64_t d = 0; d < x.dim(); ++d) (d < dim ? s.outer : d == dim ? s.n : s.inner) *= x.shape()[d];
  return s;
}

// f32/f64 inputs as their compute dtype, integers as they are; contiguous.
Tensor numeric_input(const Tensor& x, const char* op) {
  MOE_CHECK(is_floating(x.dtype()) || is_integral(x.dtype()), op, ": needs a numeric tensor, got ", x.str());
  NoGradGuard g;
  return contiguous(is_floating(x.dtype()) ? to_compute(x.detach()) : x.detach());
}

}  // namespace

// Gradient flows to the returned (first) index only.
ValuesIndices max(const Tensor& x, int64_t dim_in, bool keepdim) {
  check_defined("max", x);
  const int64_t dim = wrap_dim(dim_in, x.dim(), "max");
  const DimSplit s = split_at(x, dim);
  MOE_CHECK(s.n > 0, "max: reduction over the empty dim ", dim, " of ", x.str());
  Shape shape = x.shape();
  if (x.dim() > 0) {
    if (keepdim)
      shape[size_t(dim)] = 1;
    else
      shape.erase(shape.begin() + dim);
  }
  Tensor xc = numeric_input(x, "max");
  Tensor values = empty(shape, xc.dtype(), x.device());
  Tensor indices = empty(shape, DType::i64, x.device());
  backend::max_dim(xc, values, indices, s.outer, s.n, s.inner);
  if (is_floating(x.dtype())) values = from_compute(values, x.dtype());
  if (needs_grad({x})) {
    SavedTensor si(indices, "max");
    const Shape in_shape = x.shape();
    const DType t = x.dtype();
    attach_grad_fn("max", {values}, {x}, [si, in_shape, t, s](std::vector<Tensor>& g) {
      Tensor gc = contiguous(to_compute(g[0]));
      Tensor gx = empty(in_shape, gc.dtype(), gc.device());
      backend::max_dim_backward(gc, si.get(), gx, s.outer, s.n, s.inner);
      return std::vector<Tensor>{from_compute(gx, t)};
    });
  }
  return {values, indices};
}

// Integers sum in i64 and keep their dtype. Backward: reverse cumsum of g.
Tensor cumsum(const Tensor& x, int64_t dim_in) {
  check_defined("cumsum", x);
  const int64_t dim = wrap_dim(dim_in, x.dim(), "cumsum");
  const DimSplit s = split_at(x, dim);
  Tensor xc = numeric_input(x, "cumsum");
  Tensor out = empty(x.shape(), xc.dtype(), x.device());
  backend::cumsum_dim(xc, out, s.outer, s.n, s.inner, false);
  if (is_floating(x.dtype())) out = from_compute(out, x.dtype());
  if (needs_grad({x})) {
    const DType t = x.dtype();
    attach_grad_fn("cumsum", {out}, {x}, [t, s](std::vector<Tensor>& g) {
      Tensor gc = contiguous(to_compute(g[0]));
      Tensor gx = empty(gc.shape(), gc.dtype(), gc.device());
      backend::cumsum_dim(gc, gx, s.outer, s.n, s.inner, true);
      return std::vector<Tensor>{from_compute(gx, t)};
    });
  }
  return out;
}

}  // namespace moe
