// Indexing ops: topk, sort, gather/scatter_add, index_select/index_add,
// one_hot, bincount. Each backward is written beside its forward. Index
// tensors may be i32 or i64 and are range-checked before any kernel runs.
#include "core/backend/copy.h"
#include "core/backend/indexing.h"
#include "core/ops/op_utils.h"

namespace moe {

namespace {

std::vector<Tensor> one(Tensor t) { return {std::move(t)}; }

// "[i, j, ...]": the multi-index of logical position pos in shape s.
std::string position_str(const Shape& s, int64_t pos) {
  Shape idx(s.size());
  for (int64_t d = int64_t(s.size()) - 1; d >= 0; --d) {
    idx[size_t(d)] = pos % s[size_t(d)];
    pos /= s[size_t(d)];
  }
  return shape_str(idx);
}

// The index as a contiguous i64 tensor (no copy when it already is one).
Tensor as_index(const char* op, const Tensor& index) {
  check_defined(op, index);
  MOE_CHECK(is_integral(index.dtype()), op, ": index must be i32 or i64, got ", index.str());
  NoGradGuard g;
  return contiguous(cast(index, DType::i64));
}

// The first position of idx (contiguous i64) holding a value outside
// [lo, hi), or -1. Host read: the kernel's answer, one i64.
int64_t first_out_of_range(const Tensor& idx, int64_t lo, int64_t hi) {
  const Tensor pos = empty({}, DType::i64, idx.device());
  backend::first_out_of_range(idx, lo, hi, pos);
  return host_i64(pos);
}

// Throws naming the op, the first value outside [0, hi), its position and the range.
void check_range(const char* op, const Tensor& idx, int64_t hi, const Tensor& x, int64_t dim) {
  const int64_t pos = first_out_of_range(idx, 0, hi);
  MOE_CHECK(pos < 0, op, ": index ", host_i64_at(idx, pos), " at position ", position_str(idx.shape(), pos),
            " is out of range [0, ", hi, ") for dim ", dim, " of ", x.str());
}

// Elements are added in x's own dtype, except narrow floats which go through f32.
Tensor arith(const Tensor& t) { return is_low_precision(t.dtype()) ? to_compute(t) : t; }

// x, src and index must have x's rank; index no larger than src in any dim
// and than x in every dim but `dim` (torch.gather/scatter_add rules).
void check_scatter_shapes(const char* op, const Tensor& x, int64_t dim, const Tensor& index, const Tensor* src) {
  bool ok = index.dim() == x.dim() && (!src || src->dim() == x.dim());
  for (int64_t i = 0; ok && i < x.dim(); ++i)
    ok = (i == dim || index.shape()[size_t(i)] <= x.shape()[size_t(i)]) &&
         (!src || index.shape()[size_t(i)] <= src->shape()[size_t(i)]);
  MOE_CHECK(ok, op, ": index shape ", shape_str(index.shape()), " does not fit x ", shape_str(x.shape()),
            src ? " and src " + shape_str(src->shape()) : std::string(),
            " along dim ", dim, " (same rank; index no larger than ", src ? "src in every dim and " : "",
            "x in every other dim)");
}

// (pre, n, post) of x around dim: x viewed as [pre, n, post].
struct Split3 {
  int64_t pre = 1, n = 1, post = 1;
};
Split3 split3(const Shape& s, int64_t dim) {
  Split3 r;
  for (int64_t i = 0; i < int64_t(s.size()); ++i)
    (i < dim ? r.pre : i == dim ? r.n : r.post) *= s[size_t(i)];
  return r;
}

// i64 indices that sort x along d (the first k of each line): ties keep index
// order, NaN ranks above every number.
Tensor sort_indices(const Tensor& x, int64_t d, int64_t k, bool descending) {
  NoGradGuard g;
  Tensor xv = is_low_precision(x.dtype()) ? to_compute(x) : x.detach();
  const int64_t last = x.dim() - 1;
  Tensor rows = contiguous(d == last ? xv : transpose(xv, d, last));  // sorted dim last
  Shape is = rows.shape();
  is.back() = k;
  Tensor idx = empty(is, DType::i64, x.device());
  if (shape_numel(is) > 0) backend::sorted_indices(rows, shape_numel(is) / k, x.shape()[size_t(d)], k, descending, idx);
  return d == last ? idx : contiguous(transpose(idx, d, last));
}

}  // namespace

// NaN counts as larger than every number (as in torch): topk returns NaNs first.
ValuesIndices topk(const Tensor& x, int64_t k) {
  check_defined("topk", x);
  MOE_CHECK(x.dim() >= 1, "topk: needs at least one dim, got ", x.str());
  const int64_t n = x.shape().back();
  MOE_CHECK(k >= 0 && k <= n, "topk: k = ", k, " is out of range [0, ", n, "] for the last dim of ", x.str());
  Tensor idx = sort_indices(x, x.dim() - 1, k, true);
  return {gather(x, -1, idx), idx};  // gather's backward scatters into the chosen positions
}

// NaN sorts last ascending, first descending.
ValuesIndices sort(const Tensor& x, int64_t dim, bool descending) {
  Tensor idx = argsort(x, dim, descending);
  return {gather(x, dim, idx), idx};
}

Tensor argsort(const Tensor& x, int64_t dim, bool descending) {
  check_defined("sort", x);
  MOE_CHECK(x.dim() >= 1, "sort: needs at least one dim, got ", x.str());
  const int64_t d = wrap_dim(dim, x.dim(), "sort");
  return sort_indices(x, d, x.shape()[size_t(d)], descending);
}

Tensor gather(const Tensor& x, int64_t dim, const Tensor& index) {
  check_defined("gather", x);
  check_defined("gather", index);
  check_same_device("gather", x, index);
  MOE_CHECK(x.dim() >= 1, "gather: needs at least one dim, got ", x.str());
  const int64_t d = wrap_dim(dim, x.dim(), "gather");
  Tensor idx = as_index("gather", index);
  check_scatter_shapes("gather", x, d, idx, nullptr);
  check_range("gather", idx, x.shape()[size_t(d)], x, d);
  Tensor out = empty(idx.shape(), x.dtype(), x.device());
  backend::gather(x, d, idx, out);
  if (needs_grad({x})) {
    SavedTensor si(idx, "gather");
    Shape xs = x.shape();
    attach_grad_fn("gather", {out}, {x}, [si, xs, d](std::vector<Tensor>& g) {
      return one(scatter_add(zeros(xs, g[0].dtype(), g[0].device()), d, si.get(), g[0]));
    });
  }
  return out;
}

Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
  check_defined("scatter_add", x);
  check_defined("scatter_add", src);
  check_same_dtype("scatter_add", x, src);
  check_defined("scatter_add", index);
  check_same_device("scatter_add", x, src);
  check_same_device("scatter_add", x, index);
  MOE_CHECK(x.dim() >= 1 && x.dtype() != DType::b8, "scatter_add: needs a numeric tensor with at least one dim, got ",
            x.str());
  const int64_t d = wrap_dim(dim, x.dim(), "scatter_add");
  Tensor idx = as_index("scatter_add", index);
  check_scatter_shapes("scatter_add", x, d, idx, &src);
  check_range("scatter_add", idx, x.shape()[size_t(d)], x, d);
  Tensor out;
  {
    NoGradGuard g;
    Tensor xc = arith(x);
    out = empty(x.shape(), xc.dtype(), x.device());
    backend::copy_strided(out, xc, false);
    backend::scatter_add(out, d, idx, arith(src));
    out = from_compute(out, x.dtype());
  }
  if (needs_grad({x, src})) {
    SavedTensor si(idx, "scatter_add");
    Shape ss = src.shape();
    attach_grad_fn("scatter_add", {out}, {x, src}, [si, ss, d](std::vector<Tensor>& g) {
      Tensor gs = gather(g[0], d, si.get());
      if (gs.shape() != ss) {  // src larger than index: its other elements were not used
        Tensor full_gs = zeros(ss, gs.dtype(), gs.device());
        Tensor part = full_gs;
        for (int64_t i = 0; i < gs.dim(); ++i) part = narrow(part, i, 0, gs.shape()[size_t(i)]);
        copy_(part, gs);
        gs = full_gs;
      }
      return std::vector<Tensor>{g[0], gs};
    });
  }
  return out;
}

Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index) {
  check_defined("index_select", x);
  check_defined("index_select", index);
  check_same_device("index_select", x, index);
  MOE_CHECK(x.dim() >= 1, "index_select: needs at least one dim, got ", x.str());
  const int64_t d = wrap_dim(dim, x.dim(), "index_select");
  Tensor idx = as_index("index_select", index);
  MOE_CHECK(idx.dim() <= 1, "index_select: index must be 1-D, got ", index.str());
  check_range("index_select", idx, x.shape()[size_t(d)], x, d);
  Shape os = x.shape();
  os[size_t(d)] = idx.numel();
  Tensor out = empty(os, x.dtype(), x.device());
  {
    NoGradGuard g;
    const Split3 s = split3(x.shape(), d);
    backend::index_select(contiguous(x.detach()), idx, s.pre, s.n, s.post, out);
  }
  if (needs_grad({x})) {
    SavedTensor si(idx, "index_select");
    Shape xs = x.shape();
    attach_grad_fn("index_select", {out}, {x}, [si, xs, d](std::vector<Tensor>& g) {
      return one(index_add(zeros(xs, g[0].dtype(), g[0].device()), d, si.get(), g[0]));
    });
  }
  return out;
}

Tensor index_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
  check_defined("index_add", x);
  check_defined("index_add", src);
  check_same_dtype("index_add", x, src);
  check_defined("index_add", index);
  check_same_device("index_add", x, src);
  check_same_device("index_add", x, index);
  MOE_CHECK(x.dim() >= 1 && x.dtype() != DType::b8, "index_add: needs a numeric tensor with at least one dim, got ",
            x.str());
  const int64_t d = wrap_dim(dim, x.dim(), "index_add");
  Tensor idx = as_index("index_add", index);
  MOE_CHECK(idx.dim() <= 1, "index_add: index must be 1-D, got ", index.str());
  Shape want = x.shape();
  want[size_t(d)] = idx.numel();
  MOE_CHECK(src.shape() == want, "index_add: src shape ", shape_str(src.shape()), " must be ", shape_str(want),
            " (x ", shape_str(x.shape()), " with dim ", d, " of the index's length ", idx.numel(), ")");
  check_range("index_add", idx, x.shape()[size_t(d)], x, d);
  Tensor out;
  {
    NoGradGuard g;
    Tensor xc = arith(x);
    out = empty(x.shape(), xc.dtype(), x.device());
    backend::copy_strided(out, xc, false);
    const Split3 s = split3(x.shape(), d);
    backend::index_add(out, idx, s.pre, s.n, s.post, contiguous(arith(src).detach()));
    out = from_compute(out, x.dtype());
  }
  if (needs_grad({x, src})) {
    SavedTensor si(idx, "index_add");
    attach_grad_fn("index_add", {out}, {x, src}, [si, d](std::vector<Tensor>& g) {
      return std::vector<Tensor>{g[0], index_select(g[0], d, si.get())};
    });
  }
  return out;
}

Tensor one_hot(const Tensor& ids, int64_t num_classes) {
  MOE_CHECK(num_classes >= 0, "one_hot: num_classes must be >= 0, got ", num_classes);
  Tensor idx = as_index("one_hot", ids);
  const int64_t pos = first_out_of_range(idx, 0, num_classes);
  MOE_CHECK(pos < 0, "one_hot: class id ", host_i64_at(idx, pos), " at position ",
            position_str(idx.shape(), pos), " is out of range [0, ", num_classes, ")");
  Shape s = idx.shape();
  s.push_back(num_classes);
  Tensor out = empty(s, DType::i64, ids.device());
  backend::one_hot(idx, out);
  return out;
}

Tensor bincount(const Tensor& ids, int64_t minlength) {
  MOE_CHECK(minlength >= 0, "bincount: minlength must be >= 0, got ", minlength);
  Tensor idx = as_index("bincount", ids);
  MOE_CHECK(idx.dim() == 1, "bincount: ids must be 1-D, got ", ids.str());
  const int64_t pos = first_out_of_range(idx, 0, INT64_MAX);
  MOE_CHECK(pos < 0, "bincount: id ", host_i64_at(idx, pos), " at position ", position_str(idx.shape(), pos),
            " is negative; ids must be in [0, inf)");
  // Host read: the output's length is the largest id + 1, so the ids are
  // read on the host (a copy of all of them for a device tensor).
  const Tensor host_ids = host_copy(idx);
  const int64_t* p = host_ids.data<int64_t>();
  int64_t len = minlength;
  for (int64_t i = 0; i < idx.numel(); ++i) len = std::max(len, p[i] + 1);
  Tensor out = zeros({len}, DType::i64, ids.device());
  backend::bincount(idx, out);
  return out;
}

ExpertOrder expert_order(const Tensor& experts, const Tensor& keep, int64_t E, int64_t K, int64_t kept) {
  check_defined("expert_order", experts);
  MOE_CHECK(experts.dtype() == DType::i32, "expert_order: experts must be i32, got ", experts.str());
  MOE_CHECK(E > 0 && K > 0 && kept >= 0 && kept <= experts.numel(), "expert_order: E=", E, " K=", K, " kept=", kept,
            " for ", experts.numel(), " assignments");
  const Tensor ex = contiguous(experts.detach());
  Tensor kp;
  if (keep.defined()) {
    MOE_CHECK(keep.dtype() == DType::b8 && keep.numel() == ex.numel(), "expert_order: keep must be b8 [",
              ex.numel(), "], got ", keep.str());
    kp = contiguous(keep.detach());
  }
  ExpertOrder o{empty({kept}, DType::i64, ex.device()), empty({kept}, DType::i64, ex.device())};
  backend::expert_order(ex, kp, E, K, o.assignments, o.tokens);
  return o;
}

}  // namespace moe
