// matmul, bmm and grouped_matmul. Forward is one backend::matmul (on the
// CPU OpenBLAS); backward is two more on transposed views, which BLAS reads
// as transposes without copies.
// Every product runs at the thread's MatmulPrecision of the forward: the
// backward products reuse the precision their forward recorded.
#include <algorithm>

#include "core/backend/copy.h"
#include "core/backend/gemm.h"
#include "core/ops/op_utils.h"

namespace moe {

namespace {

Shape batch_of(const Tensor& t) { return Shape(t.shape().begin(), t.shape().end() - 2); }
bool all_ones(const Shape& s) {
  return std::all_of(s.begin(), s.end(), [](int64_t d) { return d == 1; });
}

// a [..., M, K] @ b [..., K, N] -> [batch..., M, N], no autograd.
Tensor matmul_raw(const Tensor& a, const Tensor& b, const char* name) {
  Shape shape = broadcast_shapes(batch_of(a), batch_of(b), name);
  shape.push_back(a.shape()[size_t(a.dim() - 2)]);
  shape.push_back(b.shape().back());
  const Tensor ac = to_compute(a), bc = to_compute(b);
  Tensor out = empty(shape, ac.dtype(), a.device());
  backend::matmul(ac, bc, out, matmul_precision());
  return from_compute(out, a.dtype());
}

// 1-D operands as numpy: a [K] is a [1, K] row, b [K] a [K, 1] column.
Tensor as_lhs(const Tensor& a) { return a.dim() == 1 ? view(a, {1, a.numel()}) : a; }
Tensor as_rhs(const Tensor& b) { return b.dim() == 1 ? view(b, {b.numel(), 1}) : b; }

Tensor matmul_impl(const Tensor& a, const Tensor& b, const char* name) {
  check_float_operands(name, a, b);
  MOE_CHECK(a.dim() >= 1 && b.dim() >= 1, name, ": needs operands of rank >= 1, got ", a.str(), " and ",
            b.str());
  const Tensor a2 = as_lhs(a.detach()), b2 = as_rhs(b.detach());
  MOE_CHECK(a2.shape().back() == b2.shape()[size_t(b2.dim() - 2)], name, ": inner dims differ: ", a.str(),
            " @ ", b.str());
  Tensor full = matmul_raw(a2, b2, name);
  const Shape full_shape = full.shape();
  Shape shape = full_shape;
  if (b.dim() == 1) shape.pop_back();
  if (a.dim() == 1) shape.erase(shape.end() - (b.dim() == 1 ? 1 : 2));
  Tensor out = shape == full_shape ? full : view(full, shape);

  if (needs_grad({a, b})) {
    SavedTensor sa(a, name), sb(b, name);
    const bool need_a = a.requires_grad(), need_b = b.requires_grad();
    const MatmulPrecision precision = matmul_precision();
    attach_grad_fn(name, {out}, {a, b}, [sa, sb, need_a, need_b, full_shape, precision](std::vector<Tensor>& g) {
      const MatmulPrecisionScope scope(precision);
      const Tensor x = sa.get(), y = sb.get();
      const Tensor a2 = as_lhs(x), b2 = as_rhs(y);
      const Tensor g2 = reshape(g[0], full_shape);
      Tensor ga, gb;
      if (need_a)  // dA = g @ B^T, summed over the batch dims a was broadcast along
        ga = reshape(sum_to(matmul(g2, transpose(b2, -1, -2)), a2.shape()), x.shape());
      if (need_b) {
        if (a2.dim() > 2 && all_ones(batch_of(b2))) {
          // b shared by every batch: dB = A^T @ g with the batches stacked
          // as rows, one GEMM and no [batch, K, N] temporary.
          const int64_t rows = shape_numel(Shape(a2.shape().begin(), a2.shape().end() - 1));
          gb = matmul(transpose(reshape(a2, {rows, a2.shape().back()}), 0, 1), reshape(g2, {rows, b2.shape().back()}));
        } else {  // dB = A^T @ g
          gb = sum_to(matmul(transpose(a2, -1, -2), g2), b2.shape());
        }
        gb = reshape(gb, y.shape());
      }
      return std::vector<Tensor>{ga, gb};
    });
  }
  return out;
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) { return matmul_impl(a, b, "matmul"); }

Tensor bmm(const Tensor& a, const Tensor& b) {
  check_defined("bmm", a);
  check_defined("bmm", b);
  MOE_CHECK(a.dim() == 3 && b.dim() == 3 && a.shape()[0] == b.shape()[0],
            "bmm: needs [B, M, K] @ [B, K, N], got ", a.str(), " @ ", b.str());
  return matmul_impl(a, b, "bmm");
}

namespace {

// out[rows of g] = x[rows of g] @ w[g] (or @ w[g]^T) for every group, no
// autograd; transposes reach BLAS as transposes.
void grouped_products(const Tensor& x, const Tensor& w, const std::vector<int64_t>& rows, bool trans_w,
                      MatmulPrecision precision, const Tensor& out) {
  std::vector<backend::MatmulJob> jobs;
  int64_t off = 0;
  for (size_t g = 0; g < rows.size(); ++g) {
    if (rows[g] > 0) {
      const Tensor wg = trans_w ? transpose(select(w, 0, int64_t(g)), 0, 1) : select(w, 0, int64_t(g));
      jobs.push_back({narrow(x, 0, off, rows[g]), wg, narrow(out, 0, off, rows[g])});
    }
    off += rows[g];
  }
  backend::matmul_each(jobs, precision);
}

}  // namespace

Tensor grouped_matmul(const Tensor& x, const Tensor& w, const std::vector<int64_t>& group_rows) {
  const char* name = "grouped_matmul";
  check_float_operands(name, x, w);
  check_grouped_operands(name, x, w, group_rows);
  const Tensor xc = contiguous(to_compute(x.detach())), wc = to_compute(w.detach());
  const MatmulPrecision precision = matmul_precision();
  // The groups cover every row (check_grouped_operands), so each output row
  // is written by its group's product; only an empty contraction needs zeros.
  const Shape out_shape{x.shape()[0], w.shape()[2]};
  Tensor out = x.shape()[1] > 0 ? empty(out_shape, xc.dtype(), x.device()) : zeros(out_shape, xc.dtype(), x.device());
  grouped_products(xc, wc, group_rows, false, precision, out);
  out = from_compute(out, x.dtype());

  if (needs_grad({x, w})) {
    SavedTensor sx(x, name), sw(w, name);
    const bool need_x = x.requires_grad(), need_w = w.requires_grad();
    attach_grad_fn(name, {out}, {x, w}, [sx, sw, need_x, need_w, group_rows, precision](std::vector<Tensor>& g) {
      const Tensor xv = to_compute(sx.get()), wv = to_compute(sw.get());
      const Tensor gy = contiguous(to_compute(g[0]));
      Tensor gx, gw;
      if (need_x) {  // dx_g = dy_g @ w[g]^T
        gx = wv.shape()[2] > 0 ? empty(xv.shape(), xv.dtype(), xv.device())
                               : zeros(xv.shape(), xv.dtype(), xv.device());
        grouped_products(gy, wv, group_rows, true, precision, gx);
        gx = from_compute(gx, sx.get().dtype());
      }
      if (need_w) {  // dw[g] = x_g^T @ dy_g (zero for empty groups)
        gw = empty(wv.shape(), wv.dtype(), wv.device());
        std::vector<backend::MatmulJob> jobs;
        int64_t off = 0;
        for (size_t e = 0; e < group_rows.size(); ++e) {
          const Tensor gw_e = select(gw, 0, int64_t(e));
          if (group_rows[e] > 0)
            jobs.push_back({transpose(narrow(xv, 0, off, group_rows[e]), 0, 1), narrow(gy, 0, off, group_rows[e]),
                            gw_e});
          else
            backend::fill(gw_e, 0.0);
          off += group_rows[e];
        }
        backend::matmul_each(jobs, precision);
        gw = from_compute(gw, sw.get().dtype());
      }
      return std::vector<Tensor>{gx, gw};
    });
  }
  return out;
}

}  // namespace moe
