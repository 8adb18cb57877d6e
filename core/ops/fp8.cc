// FP8 linear layers: fp8_matmul and fp8_grouped_matmul. Each pass is either
// the recipe's FP8 GEMM (core/fp8/linear.h) or the f32 / MatmulPrecision
// product the plain ops would run; backward reuses the forward's precision.
#include "core/backend/fp8.h"
#include "core/backend/streams.h"
#include "core/ops/op_utils.h"

namespace moe {

namespace {

void check_fp8_operands(const char* name, const Tensor& x, const Tensor& w) {
  check_float_operands(name, x, w);
  MOE_CHECK(x.dtype() == DType::f32, name, ": FP8 GEMMs take f32 operands, got ", x.str());
}

void check_state(const char* name, const fp8::GemmRecipe& r, const fp8::DelayedScaling* s, int64_t groups) {
  if (r.scaling != fp8::Scaling::per_tensor_delayed) return;
  MOE_CHECK(s != nullptr, name, ": per_tensor_delayed scaling needs a DelayedScaling state");
  MOE_CHECK(s->groups() == groups, name, ": the DelayedScaling state has ", s->groups(), " groups, need ", groups);
}

// The three products of one linear (x [M, K], w [K, N], dy [M, N], all
// contiguous f32), FP8 where the recipe says.
Tensor forward_product(const Tensor& x, const Tensor& w, const fp8::GemmRecipe& r, const fp8::ScaleSource& s) {
  return r.fprop ? backend::fp8_fprop(x, w, r, s) : matmul(x, w);
}
Tensor input_grad(const Tensor& dy, const Tensor& w, const fp8::GemmRecipe& r, const fp8::ScaleSource& s) {
  return r.dgrad ? backend::fp8_dgrad(dy, w, r, s) : matmul(dy, transpose(w, 0, 1));
}
Tensor weight_grad(const Tensor& x, const Tensor& dy, const fp8::GemmRecipe& r, const fp8::ScaleSource& s) {
  return r.wgrad ? backend::fp8_wgrad(x, dy, r, s) : matmul(transpose(x, 0, 1), dy);
}

// fn(group, first row, rows) for every non-empty group.
template <typename Fn>
void for_each_group(const std::vector<int64_t>& group_rows, Fn&& fn) {
  int64_t off = 0;
  for (int64_t g = 0; g < int64_t(group_rows.size()); ++g) {
    if (group_rows[size_t(g)] > 0) fn(g, off, group_rows[size_t(g)]);
    off += group_rows[size_t(g)];
  }
}

// fn(group, first row, rows) for every non-empty group, the groups' GEMMs
// concurrent on a GPU (backend::SideStreams); each writes its own rows.
template <typename Fn>
void for_each_group_concurrently(const std::vector<int64_t>& group_rows, Device d, Fn&& fn) {
  int64_t items = 0;
  for (int64_t r : group_rows) items += r > 0;
  backend::SideStreams side(d, items);
  int64_t item = 0;
  for_each_group(group_rows, [&](int64_t g, int64_t off, int64_t rows) {
    side.run(item++, [&] { fn(g, off, rows); });
  });
  side.join();
}

// A [sum(group_rows), cols] tensor on device d whose rows of group g are
// product(g, first row, rows) (zero rows for empty groups).
template <typename Fn>
Tensor rows_by_group(const std::vector<int64_t>& group_rows, int64_t total, int64_t cols, Device d, Fn&& product) {
  Tensor out = zeros({total, cols}, DType::f32, d);
  for_each_group_concurrently(group_rows, d, [&](int64_t g, int64_t off, int64_t rows) {
    Tensor dst = narrow(out, 0, off, rows);
    copy_(dst, product(g, off, rows));
  });
  return out;
}

// Rows [off, off + n) of 1x128-tile codes (scales [rows * tiles]).
fp8::QuantizedTensor code_rows(const fp8::QuantizedTensor& q, int64_t off, int64_t n) {
  const int64_t tiles = fp8::scale_cols(fp8::Layout::tile_1x128, q.cols);
  fp8::QuantizedTensor s = q;
  s.rows = n;
  s.codes = narrow(q.codes, 0, off, n);
  s.scales = narrow(q.scales, 0, off * tiles, n * tiles);
  return s;
}

// The codes' own format, layout and scales are backend::fp8_fprop_codes's
// to check (per group); here only that they are x's rows.
void check_codes(const char* name, const fp8::QuantizedTensor& q, const Tensor& x) {
  MOE_CHECK(q.rows == x.size(0) && q.cols == x.size(1) && q.codes.defined() && q.codes.shape() == x.shape(), name,
            ": x_codes must be codes of x ", x.str(), ", got ", q.rows, " x ", q.cols, " codes ",
            q.codes.defined() ? q.codes.str() : "undefined");
  MOE_CHECK(q.codes.device() == x.device(), name, ": x_codes are on ", q.codes.device().str(), ", x on ",
            x.device().str());
}

}  // namespace

Tensor fp8_matmul(const Tensor& x, const Tensor& w, const fp8::GemmRecipe& recipe, fp8::DelayedScaling* state) {
  const char* name = "fp8_matmul";
  check_fp8_operands(name, x, w);
  MOE_CHECK(x.dim() >= 1 && w.dim() == 2 && x.shape().back() == w.size(0), name,
            ": needs x [..., K] and w [K, N], got ", x.str(), " and ", w.str());
  check_state(name, recipe, state, 1);
  const int64_t K = w.size(0), N = w.size(1);
  Shape out_shape = x.shape();
  out_shape.back() = N;
  const bool train = needs_grad({x, w});
  const Tensor x2 = contiguous(reshape(x.detach(), {-1, K})), wc = contiguous(w.detach());
  const Tensor out = view(forward_product(x2, wc, recipe, {state, 0, train}), out_shape);

  if (train) {
    SavedTensor sx(x, name), sw(w, name);
    const bool need_x = x.requires_grad(), need_w = w.requires_grad();
    const MatmulPrecision precision = matmul_precision();
    attach_grad_fn(name, {out}, {x, w}, [=](std::vector<Tensor>& g) {
      const MatmulPrecisionScope scope(precision);
      const Tensor xv = sx.get();
      const Tensor dy = contiguous(reshape(g[0], {-1, N}));
      const fp8::ScaleSource src{state, 0, true};
      Tensor gx, gw;
      if (need_x) gx = reshape(input_grad(dy, contiguous(sw.get()), recipe, src), xv.shape());
      if (need_w) gw = weight_grad(contiguous(reshape(xv, {-1, K})), dy, recipe, src);
      return std::vector<Tensor>{gx, gw};
    });
  }
  return out;
}

Tensor fp8_grouped_matmul(const Tensor& x, const Tensor& w, const std::vector<int64_t>& group_rows,
                          const fp8::GemmRecipe& recipe, fp8::DelayedScaling* state,
                          const fp8::QuantizedTensor* x_codes) {
  const char* name = "fp8_grouped_matmul";
  check_fp8_operands(name, x, w);
  check_grouped_operands(name, x, w, group_rows);
  const int64_t G = w.size(0), K = w.size(1), N = w.size(2), total = x.size(0);
  check_state(name, recipe, state, G);
  if (x_codes) check_codes(name, *x_codes, x);
  const bool use_codes = x_codes && recipe.fprop && recipe.scaling == fp8::Scaling::tilewise;
  const bool train = needs_grad({x, w});
  const Tensor xc = contiguous(x.detach()), wc = contiguous(w.detach());
  Tensor out;
  if (recipe.fprop) {
    out = rows_by_group(group_rows, total, N, x.device(), [&](int64_t g, int64_t off, int64_t rows) {
      const fp8::ScaleSource src{state, g, train};
      if (use_codes) return backend::fp8_fprop_codes(code_rows(*x_codes, off, rows), select(wc, 0, g), recipe, src);
      return forward_product(narrow(xc, 0, off, rows), select(wc, 0, g), recipe, src);
    });
  } else {
    out = grouped_matmul(xc, wc, group_rows);
  }

  if (train) {
    SavedTensor sx(x, name), sw(w, name);
    const bool need_x = x.requires_grad(), need_w = w.requires_grad();
    const MatmulPrecision precision = matmul_precision();
    attach_grad_fn(name, {out}, {x, w}, [=](std::vector<Tensor>& g) {
      const MatmulPrecisionScope scope(precision);
      const Tensor xv = contiguous(sx.get()), wv = contiguous(sw.get());
      const Tensor dy = contiguous(g[0]);
      Tensor gx, gw;
      if (need_x) {
        if (recipe.dgrad) {
          gx = rows_by_group(group_rows, total, K, xv.device(), [&](int64_t e, int64_t off, int64_t rows) {
            return input_grad(narrow(dy, 0, off, rows), select(wv, 0, e), recipe, {state, e, true});
          });
        } else {
          gx = grouped_matmul(dy, transpose(wv, 1, 2), group_rows);
        }
      }
      if (need_w) {
        gw = zeros({G, K, N}, DType::f32, wv.device());  // zero for empty groups
        for_each_group_concurrently(group_rows, wv.device(), [&](int64_t e, int64_t off, int64_t rows) {
          Tensor dst = select(gw, 0, e);
          copy_(dst, weight_grad(narrow(xv, 0, off, rows), narrow(dy, 0, off, rows), recipe, {state, e, true}));
        });
      }
      return std::vector<Tensor>{gx, gw};
    });
  }
  return out;
}

}  // namespace moe
