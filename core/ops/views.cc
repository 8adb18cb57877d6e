// View ops: new shape/strides/offset over the same storage and version
// counter; the gradient of a view is the inverse view (or a scatter into
// zeros for narrowing views).
#include <numeric>

#include "core/ops/op_utils.h"

namespace moe {

namespace {

Tensor make_view(const Tensor& x, Shape shape, Shape strides, int64_t offset) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = x.storage();
  impl->shape = std::move(shape);
  impl->strides = std::move(strides);
  impl->offset = offset;
  impl->dtype = x.dtype();
  impl->version = x.impl()->version;
  return Tensor(impl);
}

Shape infer_shape(const Shape& s, int64_t numel, const char* op) {
  Shape out = s;
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == -1) {
      MOE_CHECK(infer < 0, op, ": only one dim can be -1 in ", shape_str(s));
      infer = int64_t(i);
    } else {
      MOE_CHECK(s[i] >= 0, op, ": invalid size ", s[i], " in ", shape_str(s));
      known *= s[i];
    }
  }
  if (infer >= 0) {
    MOE_CHECK(known != 0 && numel % known == 0, op, ": cannot infer -1 in ", shape_str(s), " for ",
              numel, " elements");
    out[infer] = numel / known;
  }
  MOE_CHECK(shape_numel(out) == numel, op, ": shape ", shape_str(s), " is invalid for ", numel,
            " elements");
  return out;
}

// Strides for viewing (shape, strides) as `target` without a copy, or empty
// when impossible. Old dims are grouped into runs that are contiguous with
// each other; each run must map onto a run of new dims of the same numel.
std::optional<Shape> view_strides(const Shape& shape, const Shape& strides, const Shape& target) {
  Shape out(target.size());
  if (shape_numel(shape) == 0 || shape.empty()) return contiguous_strides(target);
  int64_t view_d = int64_t(target.size()) - 1;
  int64_t chunk_base_stride = strides.back();
  int64_t tensor_numel = 1, view_numel = 1;
  for (int64_t d = int64_t(shape.size()) - 1; d >= 0; --d) {
    tensor_numel *= shape[d];
    if (d == 0 || (shape[d - 1] != 1 && strides[d - 1] != tensor_numel * chunk_base_stride)) {
      while (view_d >= 0 && (view_numel < tensor_numel || target[view_d] == 1)) {
        out[view_d] = view_numel * chunk_base_stride;
        view_numel *= target[view_d];
        --view_d;
      }
      if (view_numel != tensor_numel) return std::nullopt;
      if (d > 0) {
        chunk_base_stride = strides[d - 1];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  if (view_d != -1) return std::nullopt;
  return out;
}

std::vector<Tensor> one(Tensor t) { return {std::move(t)}; }

}  // namespace

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  const size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    const int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    const int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    MOE_CHECK(da == db || da == 1 || db == 1, op, ": shapes ", shape_str(a), " and ", shape_str(b),
              " cannot be broadcast together");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

Tensor view(const Tensor& x, const Shape& s) {
  check_defined("view", x);
  const Shape target = infer_shape(s, x.numel(), "view");
  auto st = view_strides(x.shape(), x.strides(), target);
  MOE_CHECK(st.has_value(), "view: cannot view ", x.str(), " with strides ", shape_str(x.strides()),
            " as ", shape_str(target), " without a copy; use reshape()");
  Tensor out = make_view(x, target, *st, x.offset());
  if (needs_grad({x})) {
    Shape in_shape = x.shape();
    attach_grad_fn("view", {out}, {x}, [in_shape](std::vector<Tensor>& g) { return one(reshape(g[0], in_shape)); });
  }
  return out;
}

Tensor reshape(const Tensor& x, const Shape& s) {
  check_defined("reshape", x);
  const Shape target = infer_shape(s, x.numel(), "reshape");
  if (view_strides(x.shape(), x.strides(), target)) return view(x, target);
  return view(contiguous(x), target);
}

Tensor permute(const Tensor& x, const std::vector<int64_t>& dims) {
  check_defined("permute", x);
  MOE_CHECK(int64_t(dims.size()) == x.dim(), "permute: ", dims.size(), " dims given for ", x.str());
  Shape shape(dims.size()), strides(dims.size());
  std::vector<int64_t> inverse(dims.size(), -1);
  for (size_t i = 0; i < dims.size(); ++i) {
    const int64_t d = wrap_dim(dims[i], x.dim(), "permute");
    MOE_CHECK(inverse[d] < 0, "permute: dim ", d, " repeated");
    inverse[d] = int64_t(i);
    shape[i] = x.shape()[d];
    strides[i] = x.strides()[d];
  }
  Tensor out = make_view(x, shape, strides, x.offset());
  if (needs_grad({x}))
    attach_grad_fn("permute", {out}, {x}, [inverse](std::vector<Tensor>& g) { return one(permute(g[0], inverse)); });
  return out;
}

Tensor transpose(const Tensor& x, int64_t a, int64_t b) {
  std::vector<int64_t> dims(size_t(x.dim()));
  std::iota(dims.begin(), dims.end(), 0);
  std::swap(dims[wrap_dim(a, x.dim(), "transpose")], dims[wrap_dim(b, x.dim(), "transpose")]);
  return permute(x, dims);
}

Tensor slice(const Tensor& x, int64_t dim, int64_t start, int64_t end, int64_t step) {
  check_defined("slice", x);
  const int64_t d = wrap_dim(dim, x.dim(), "slice");
  const int64_t n = x.shape()[d];
  MOE_CHECK(step >= 1, "slice: step must be >= 1, got ", step);
  if (start < 0) start += n;
  if (end < 0) end += n;
  start = std::clamp<int64_t>(start, 0, n);
  end = std::clamp<int64_t>(end, start, n);
  Shape shape = x.shape(), strides = x.strides();
  shape[d] = (end - start + step - 1) / step;
  strides[d] *= step;
  Tensor out = make_view(x, shape, strides, x.offset() + start * x.strides()[d]);
  if (needs_grad({x})) {
    Shape in_shape = x.shape();
    attach_grad_fn("slice", {out}, {x}, [=](std::vector<Tensor>& g) {
      Tensor gx = zeros(in_shape, g[0].dtype(), g[0].device());
      Tensor part = slice(gx, d, start, end, step);
      copy_(part, g[0]);
      return one(gx);
    });
  }
  return out;
}

Tensor narrow(const Tensor& x, int64_t dim, int64_t start, int64_t length) {
  check_defined("narrow", x);
  const int64_t d = wrap_dim(dim, x.dim(), "narrow");
  MOE_CHECK(start >= 0 && length >= 0 && start + length <= x.shape()[d], "narrow: range [", start, ", ",
            start + length, ") out of bounds for dim ", d, " of ", x.str());
  return slice(x, d, start, start + length, 1);
}

Tensor select(const Tensor& x, int64_t dim, int64_t index) {
  check_defined("select", x);
  const int64_t d = wrap_dim(dim, x.dim(), "select");
  const int64_t n = x.shape()[d];
  MOE_CHECK(index >= -n && index < n, "select: index ", index, " out of range for dim ", d, " of ", x.str());
  if (index < 0) index += n;
  Shape shape = x.shape(), strides = x.strides();
  shape.erase(shape.begin() + d);
  strides.erase(strides.begin() + d);
  Tensor out = make_view(x, shape, strides, x.offset() + index * x.strides()[d]);
  if (needs_grad({x})) {
    Shape in_shape = x.shape();
    attach_grad_fn("select", {out}, {x}, [=](std::vector<Tensor>& g) {
      Tensor gx = zeros(in_shape, g[0].dtype(), g[0].device());
      Tensor part = select(gx, d, index);
      copy_(part, g[0]);
      return one(gx);
    });
  }
  return out;
}

Tensor expand(const Tensor& x, const Shape& s) {
  check_defined("expand", x);
  MOE_CHECK(int64_t(s.size()) >= x.dim(), "expand: cannot expand ", x.str(), " to ", shape_str(s));
  const int64_t lead = int64_t(s.size()) - x.dim();
  Shape shape(s.size()), strides(s.size(), 0);
  for (int64_t i = 0; i < int64_t(s.size()); ++i) {
    if (i < lead) {
      MOE_CHECK(s[i] >= 0, "expand: size -1 not allowed for new leading dim ", i);
      shape[i] = s[i];
      continue;
    }
    const int64_t xs = x.shape()[i - lead];
    const int64_t want = s[i] == -1 ? xs : s[i];
    MOE_CHECK(xs == want || xs == 1, "expand: cannot expand ", x.str(), " to ", shape_str(s), " (dim ", i,
              ")");
    shape[i] = want;
    strides[i] = xs == want ? x.strides()[i - lead] : 0;
  }
  Tensor out = make_view(x, shape, strides, x.offset());
  if (needs_grad({x})) {
    Shape in_shape = x.shape();
    attach_grad_fn("expand", {out}, {x}, [in_shape](std::vector<Tensor>& g) { return one(sum_to(g[0], in_shape)); });
  }
  return out;
}

Tensor unsqueeze(const Tensor& x, int64_t dim) {
  const int64_t d = wrap_dim(dim, x.dim() + 1, "unsqueeze");
  Shape s = x.shape();
  s.insert(s.begin() + d, 1);
  return reshape(x, s);
}

Tensor squeeze(const Tensor& x, int64_t dim) {
  const int64_t d = wrap_dim(dim, x.dim(), "squeeze");
  MOE_CHECK(x.shape()[d] == 1, "squeeze: dim ", d, " of ", x.str(), " has size ", x.shape()[d], ", not 1");
  Shape s = x.shape();
  s.erase(s.begin() + d);
  return reshape(x, s);
}

Tensor flatten(const Tensor& x, int64_t start_dim, int64_t end_dim) {
  if (x.dim() == 0) return reshape(x, {1});
  const int64_t a = wrap_dim(start_dim, x.dim(), "flatten"), b = wrap_dim(end_dim, x.dim(), "flatten");
  MOE_CHECK(a <= b, "flatten: start_dim ", a, " > end_dim ", b);
  Shape s(x.shape().begin(), x.shape().begin() + a);
  int64_t n = 1;
  for (int64_t i = a; i <= b; ++i) n *= x.shape()[i];
  s.push_back(n);
  s.insert(s.end(), x.shape().begin() + b + 1, x.shape().end());
  return reshape(x, s);
}

Tensor contiguous(const Tensor& x) {
  check_defined("contiguous", x);
  return x.is_contiguous() ? x : clone(x);
}

Tensor sum_to(const Tensor& x, const Shape& shape) {
  if (x.shape() == shape) return x;
  const int64_t lead = x.dim() - int64_t(shape.size());
  MOE_CHECK(lead >= 0, "sum_to: cannot reduce ", x.str(), " to ", shape_str(shape));
  std::vector<int64_t> dims;
  for (int64_t i = 0; i < x.dim(); ++i)
    if (i < lead || (shape[i - lead] == 1 && x.shape()[i] != 1)) dims.push_back(i);
  Tensor r = dims.empty() ? x : sum(x, dims, true);
  return reshape(r, shape);
}

}  // namespace moe
