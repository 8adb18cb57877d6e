// sum and mean over dims.
#include <algorithm>
#include <numeric>

#include "core/cpu/reduce.h"
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
static Tensor reduce_raw(cpu::RowReduce op, const Tensor& x, const ReducePlan& p, const char* name) {
  check_cpu(name, x);
  Tensor xc = rows_view(to_compute(x), p);
  Tensor out = empty(p.out_shape, xc.dtype(), x.device());
  if (p.len == 0) {
    MOE_CHECK(op == cpu::RowReduce::sum, name, ": reduction over an empty dim of ", x.str());
    NoGradGuard g;
    fill_(out, 0.0);
  } else {
    cpu::reduce_rows(op, xc, p.rows, p.len, out);
  }
  return from_compute(out, x.dtype());
}

Tensor sum(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  check_defined("sum", x);
  check_floating("sum", x);
  const ReducePlan p = plan_reduce(x, dims, keepdim, "sum");
  Tensor out = reduce_raw(cpu::RowReduce::sum, x, p, "sum");
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

}  // namespace moe
