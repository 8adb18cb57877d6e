// cat, split and stack. cat copies (any dtype, any strides); split returns
// narrow views; stack is cat of unsqueezed views.
#include "core/backend/copy.h"
#include "core/ops/op_utils.h"

namespace moe {

Tensor cat(const std::vector<Tensor>& xs, int64_t dim) {
  MOE_CHECK(!xs.empty(), "cat: needs at least one tensor");
  for (const Tensor& x : xs) check_defined("cat", x);
  const Tensor& x0 = xs[0];
  MOE_CHECK(x0.dim() >= 1, "cat: cannot concatenate 0-dim tensors (", x0.str(), "); use stack");
  const int64_t d = wrap_dim(dim, x0.dim(), "cat");
  Shape shape = x0.shape();
  shape[size_t(d)] = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    const Tensor& x = xs[i];
    check_same_dtype("cat", x0, x);
    check_same_device("cat", x0, x);
    bool ok = x.dim() == x0.dim();
    for (int64_t j = 0; ok && j < x.dim(); ++j) ok = j == d || x.shape()[size_t(j)] == x0.shape()[size_t(j)];
    MOE_CHECK(ok, "cat: input ", i, " has shape ", shape_str(x.shape()), " but input 0 has ", shape_str(x0.shape()),
              "; all dims except dim ", d, " must match");
    shape[size_t(d)] += x.shape()[size_t(d)];
  }
  Tensor out = empty(shape, x0.dtype(), x0.device());
  std::vector<int64_t> sizes;
  {
    NoGradGuard g;
    int64_t off = 0;
    for (const Tensor& x : xs) {
      sizes.push_back(x.shape()[size_t(d)]);
      backend::copy_strided(narrow(out, d, off, sizes.back()), x, false);
      off += sizes.back();
    }
  }
  if (needs_grad(xs)) {
    attach_grad_fn("cat", {out}, xs, [sizes, d](std::vector<Tensor>& g) {
      std::vector<Tensor> r;
      int64_t off = 0;
      for (int64_t n : sizes) {
        r.push_back(narrow(g[0], d, off, n));
        off += n;
      }
      return r;
    });
  }
  return out;
}

std::vector<Tensor> split(const Tensor& x, const std::vector<int64_t>& sizes, int64_t dim) {
  check_defined("split", x);
  MOE_CHECK(x.dim() >= 1, "split: needs at least one dim, got ", x.str());
  const int64_t d = wrap_dim(dim, x.dim(), "split");
  int64_t total = 0;
  for (int64_t s : sizes) {
    MOE_CHECK(s >= 0, "split: negative size ", s, " in sizes ", shape_str(sizes));
    total += s;
  }
  MOE_CHECK(total == x.shape()[size_t(d)], "split: sizes ", shape_str(sizes), " sum to ", total, " but dim ", d,
            " of ", x.str(), " has size ", x.shape()[size_t(d)]);
  std::vector<Tensor> out;
  int64_t off = 0;
  for (int64_t s : sizes) {
    out.push_back(narrow(x, d, off, s));
    off += s;
  }
  return out;
}

Tensor stack(const std::vector<Tensor>& xs, int64_t dim) {
  MOE_CHECK(!xs.empty(), "stack: needs at least one tensor");
  for (const Tensor& x : xs) check_defined("stack", x);
  const int64_t d = wrap_dim(dim, xs[0].dim() + 1, "stack");
  std::vector<Tensor> parts;
  for (size_t i = 0; i < xs.size(); ++i) {
    check_same_dtype("stack", xs[0], xs[i]);
    check_same_device("stack", xs[0], xs[i]);
    MOE_CHECK(xs[i].shape() == xs[0].shape(), "stack: input ", i, " has shape ", shape_str(xs[i].shape()),
              " but input 0 has ", shape_str(xs[0].shape()), "; all must match");
    parts.push_back(unsqueeze(xs[i], d));
  }
  return cat(parts, d);
}

}  // namespace moe
