// The FP8 linear layer of the training path: the BLAS-speed FP8 GEMM
// (core/fp8/gemm_blas.h) against the reference fp8::gemm, and the autograd
// ops fp8_matmul / fp8_grouped_matmul (core/ops.h) against GEMMs of operands
// quantised here, independently of core/fp8/linear.cc, per recipe
// (core/fp8/recipe.h); their errors against f64 within the bound the formats
// predict (tests/core/fp8_test_util.h); delayed-scaling state; passes that
// are not FP8 are exactly matmul's.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "core/autograd.h"
#include "core/fp8/gemm_blas.h"
#include "core/fp8/recipe.h"
#include "core/ops.h"
#include "tests/core/fp8_test_util.h"

namespace moe::fp8 {
namespace {

using bounds::check_against_f64;
using bounds::randn;

Tensor tensor_of(const std::vector<float>& v, const Shape& s) {
  Tensor t = empty(s);
  std::memcpy(t.data<float>(), v.data(), v.size() * sizeof(float));
  return t;
}
std::vector<float> vec(const Tensor& t) {
  const Tensor c = contiguous(t);
  return std::vector<float>(c.data<float>(), c.data<float>() + c.numel());
}
bool bitwise_equal(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && vec(a) == vec(b);
}

// The difference the training-path GEMM may have from fp8::gemm (only the
// in-chunk summation order differs): per element
//   2 (chunk + K / chunk) eps sum_k |a'_k b'_k| / (sA sB).
// Returns max |c - gemm()| / bound (asserted <= 1).
double check_against_reference(const std::vector<float>& c, const Quantized& qa, const Quantized& qb,
                               int64_t chunk = kPromotionInterval) {
  const std::vector<float> ref = gemm(qa, qb, chunk), fa = values(qa), fb = values(qb);
  const int64_t M = qa.rows, K = qa.cols, N = qb.cols;
  EXPECT_EQ(c.size(), ref.size());
  const double gamma = 2.0 * (double(chunk) + double(K) / double(chunk)) * 0x1p-24;
  double worst = 0;
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      double abs_sum = 0;
      for (int64_t k = 0; k < K; ++k)
        abs_sum += std::fabs(double(fa[size_t(m * K + k)]) * fb[size_t(k * N + n)]) / qa.scale_at(m, k) /
                   qb.scale_at(k, n);
      const double err = std::fabs(double(c[size_t(m * N + n)]) - ref[size_t(m * N + n)]);
      worst = std::max(worst, err / (gamma * abs_sum + 1e-300));
    }
  EXPECT_LE(worst, 1.0) << "training-path GEMM beyond the summation-order bound of fp8::gemm";
  return worst;
}

// Ragged shapes (K = 1000 = 7 x 128 + 104, N = 200), every layout pair the
// three GEMMs use, several promotion intervals. With chunk 1 no summation
// order is left to differ: bitwise fp8::gemm.
TEST(Fp8TrainingGemm, EqualsTheReferenceWithinTheSummationOrderBound) {
  const int64_t M = 70, K = 1000, N = 200;
  const std::vector<float> a = randn(M * K, 21), b = randn(K * N, 22, 0.05f);
  struct Case {
    Layout la, lb;
    int64_t chunk;
  };
  for (const Case& c : {Case{Layout::per_tensor, Layout::per_tensor, 128}, Case{Layout::per_tensor, Layout::per_tensor, K},
                        Case{Layout::tile_1x128, Layout::block_128x128, 128},
                        Case{Layout::tile_1x128, Layout::block_128x128, 64},
                        Case{Layout::tile_1x128, Layout::tile_128x1, 128},
                        Case{Layout::block_128x128, Layout::block_128x128, 32}}) {
    const Quantized qa = quantize(a.data(), M, K, Format::e4m3, c.la);
    const Quantized qb = quantize(b.data(), K, N, Format::e5m2, c.lb);
    const double worst = check_against_reference(vec(gemm_blas(qa, qb, c.chunk)), qa, qb, c.chunk);
    std::printf("  %s x %s, chunk %lld: max |diff| / bound = %.3f\n", layout_name(c.la), layout_name(c.lb),
                static_cast<long long>(c.chunk), worst);
  }
  for (Layout la : {Layout::per_tensor, Layout::tile_1x128}) {
    const Quantized qa = quantize(a.data(), M, K, Format::e4m3, la);
    const Quantized qb = quantize(b.data(), K, N, Format::e4m3, Layout::block_128x128);
    EXPECT_EQ(vec(gemm_blas(qa, qb, 1)), gemm(qa, qb, 1)) << layout_name(la);
  }
  // Empty and refused shapes.
  const Quantized qa = quantize(a.data(), M, K, Format::e4m3, Layout::tile_1x128);
  EXPECT_THROW(gemm_blas(qa, quantize(b.data(), K, N, Format::e4m3, Layout::tile_1x128)), Error);
  EXPECT_THROW(gemm_blas(qa, quantize(b.data(), K, N, Format::e4m3, Layout::block_128x128), 100), Error);
  const Quantized q0 = quantize(a.data(), 0, K, Format::e4m3, Layout::tile_1x128);
  EXPECT_EQ(gemm_blas(q0, quantize(b.data(), K, N, Format::e4m3, Layout::block_128x128)).shape(), (Shape{0, N}));
}

// One linear y = x w with upstream gradient dy, through fp8_matmul.
struct Pass {
  Tensor y, dx, dw;
};
Pass run_op(const std::vector<float>& x, const std::vector<float>& w, const std::vector<float>& dy, int64_t M,
            int64_t K, int64_t N, const GemmRecipe& r, DelayedScaling* st = nullptr) {
  Tensor X = tensor_of(x, {M, K}).set_requires_grad(true), W = tensor_of(w, {K, N}).set_requires_grad(true);
  const Tensor y = fp8_matmul(X, W, r, st);
  sum(mul(y, tensor_of(dy, {M, N}))).backward();  // dL/dy = dy exactly
  return {y.detach(), X.grad(), W.grad()};
}

// The operands of the three GEMMs, quantised here from the recipe's rules
// (fp8/recipe.h) on explicitly transposed copies.
struct RefOperands {
  Quantized x, w, dy, wt, xt, dy_tokens;
};
RefOperands ref_operands(const std::vector<float>& x, const std::vector<float>& w, const std::vector<float>& dy,
                         int64_t M, int64_t K, int64_t N, const GemmRecipe& r) {
  const std::vector<float> xt = bounds::transpose(x, M, K), wt = bounds::transpose(w, K, N);
  const ScaleRounding sr = r.rounding;
  if (r.scaling == Scaling::tilewise)
    return {quantize(x.data(), M, K, Format::e4m3, Layout::tile_1x128, sr),
            quantize(w.data(), K, N, Format::e4m3, Layout::block_128x128, sr),
            quantize(dy.data(), M, N, Format::e4m3, Layout::tile_1x128, sr),
            quantize(wt.data(), N, K, Format::e4m3, Layout::block_128x128, sr),
            quantize(xt.data(), K, M, Format::e4m3, Layout::tile_1x128, sr),
            quantize(dy.data(), M, N, Format::e4m3, Layout::tile_128x1, sr)};
  const Format g = r.grad_format;
  return {quantize(x.data(), M, K, Format::e4m3, Layout::per_tensor, sr),
          quantize(w.data(), K, N, Format::e4m3, Layout::per_tensor, sr),
          quantize(dy.data(), M, N, g, Layout::per_tensor, sr),
          quantize(wt.data(), N, K, Format::e4m3, Layout::per_tensor, sr),
          quantize(xt.data(), K, M, Format::e4m3, Layout::per_tensor, sr),
          quantize(dy.data(), M, N, g, Layout::per_tensor, sr)};
}

GemmRecipe recipe(Scaling s, Format grad = Format::e5m2, ScaleRounding r = ScaleRounding::none) {
  GemmRecipe g;
  g.scaling = s;
  g.grad_format = grad;
  g.rounding = r;
  return g;
}

// 300 tokens (two full 128-token tiles and a ragged one along wgrad's K),
// K = 200, N = 150: each pass of the op is the recipe's GEMM, and its error
// against f64 is within the bound the formats predict.
TEST(Fp8Matmul, EachPassIsTheRecipesGemmWithinTheFormatBound) {
  const int64_t M = 300, K = 200, N = 150;
  const std::vector<float> x = randn(M * K, 31), w = randn(K * N, 32, 0.05f), dy = randn(M * N, 33, 1e-3f);
  const std::vector<float> xt = bounds::transpose(x, M, K), wt = bounds::transpose(w, K, N);
  for (const GemmRecipe& r :
       {recipe(Scaling::tilewise), recipe(Scaling::tilewise, Format::e5m2, ScaleRounding::pow2_down),
        recipe(Scaling::per_tensor_current), recipe(Scaling::per_tensor_current, Format::e4m3)}) {
    SCOPED_TRACE(std::string(scaling_name(r.scaling)) + " dy " + format_name(r.grad_format) +
                 (r.rounding == ScaleRounding::pow2_down ? " pow2" : ""));
    const Pass p = run_op(x, w, dy, M, K, N, r);
    const RefOperands q = ref_operands(x, w, dy, M, K, N, r);
    check_against_reference(vec(p.y), q.x, q.w);
    check_against_reference(vec(p.dx), q.dy, q.wt);
    check_against_reference(vec(p.dw), q.xt, q.dy_tokens);
    check_against_f64(x, q.x, w, q.w, vec(p.y));
    check_against_f64(dy, q.dy, wt, q.wt, vec(p.dx));
    check_against_f64(xt, q.xt, dy, q.dy_tokens, vec(p.dw));
  }
}

// One outlier token (row 7 of x 2^16 times the others): the per-tensor
// scale (~448 / (4 * 2^16) ~ 2^-9.2) puts the other tokens' values at about
// e4m3's smallest subnormal 2^-9, where they round to 0, 2^-9 or 2^-8
// (relative errors of tens of percent); 1x128 tiles (per token) keep their
// relative error <= 2^-4. Measured ratio ~0.16, asserted < 0.25.
TEST(Fp8Matmul, TileWiseBeatsPerTensorOnAnOutlierToken) {
  const int64_t M = 256, K = 256, N = 64;
  std::vector<float> x = randn(M * K, 41);
  const std::vector<float> w = randn(K * N, 42, 0.05f), dy = randn(M * N, 43);
  for (int64_t k = 0; k < K; ++k) x[size_t(7 * K + k)] *= 65536.0f;
  const std::vector<double> ref = bounds::ref_gemm(x, w, M, K, N);
  auto bulk_err = [&](const Tensor& y) {  // error on the other tokens
    const std::vector<float> c = vec(y);
    double e = 0;
    for (int64_t m = 0; m < M; ++m)
      for (int64_t n = 0; n < N; ++n)
        if (m != 7) e += std::pow(c[size_t(m * N + n)] - ref[size_t(m * N + n)], 2);
    return std::sqrt(e);
  };
  const double pt = bulk_err(run_op(x, w, dy, M, K, N, recipe(Scaling::per_tensor_current)).y);
  const double tw = bulk_err(run_op(x, w, dy, M, K, N, recipe(Scaling::tilewise)).y);
  std::printf("  error on the other tokens: per-tensor %.4g, tile-wise %.4g\n", pt, tw);
  EXPECT_LT(tw, 0.25 * pt);
}

// Passes that are not FP8 are matmul's, bit for bit, at the forward's
// MatmulPrecision even when backward runs outside its scope.
TEST(Fp8Matmul, PassesNotSelectedAreExactlyMatmul) {
  const int64_t M = 40, K = 130, N = 24;
  const std::vector<float> x = randn(M * K, 51), w = randn(K * N, 52, 0.1f), dy = randn(M * N, 53);
  for (MatmulPrecision prec : {MatmulPrecision::fp32, MatmulPrecision::bf16}) {
    Tensor X = tensor_of(x, {2, M / 2, K}).set_requires_grad(true), W = tensor_of(w, {K, N}).set_requires_grad(true);
    Tensor y_ref;
    {
      const MatmulPrecisionScope scope(prec);
      y_ref = matmul(X, W);
    }
    sum(mul(y_ref, tensor_of(dy, {2, M / 2, N}))).backward();
    const Tensor dx_ref = X.grad(), dw_ref = W.grad();
    GemmRecipe off = recipe(Scaling::tilewise);
    off.fprop = off.dgrad = off.wgrad = false;
    GemmRecipe fwd_only = recipe(Scaling::tilewise);
    fwd_only.dgrad = fwd_only.wgrad = false;
    for (const GemmRecipe& r : {off, fwd_only}) {
      Tensor X2 = tensor_of(x, {2, M / 2, K}).set_requires_grad(true), W2 = tensor_of(w, {K, N}).set_requires_grad(true);
      Tensor y;
      {
        const MatmulPrecisionScope scope(prec);
        y = fp8_matmul(X2, W2, r);
      }
      EXPECT_EQ(y.shape(), (Shape{2, M / 2, N}));
      sum(mul(y, tensor_of(dy, {2, M / 2, N}))).backward();
      EXPECT_EQ(bitwise_equal(y, y_ref), !r.fprop) << matmul_precision_name(prec);
      EXPECT_TRUE(bitwise_equal(X2.grad(), dx_ref)) << matmul_precision_name(prec);
      EXPECT_TRUE(bitwise_equal(W2.grad(), dw_ref)) << matmul_precision_name(prec);
    }
  }
}

// Delayed scaling: the scales come from the history (1 while it is empty),
// forward records x and w, backward dy, evaluation nothing; update() pushes
// the step's maxima; a lagging scale saturates.
TEST(Fp8Matmul, DelayedScalingUsesTheHistoryAndRecordsTheStepsAmaxes) {
  const int64_t M = 64, K = 96, N = 32;
  const std::vector<float> x = randn(M * K, 61), w = randn(K * N, 62, 0.05f), dy = randn(M * N, 63, 1e-2f);
  const GemmRecipe r = recipe(Scaling::per_tensor_delayed, Format::e5m2);
  DelayedScaling st(1, 4);
  auto amax = [](const std::vector<float>& v) {
    float a = 0;
    for (float f : v) a = std::max(a, std::fabs(f));
    return a;
  };
  // Step 1 at scale 1.
  const Pass p1 = run_op(x, w, dy, M, K, N, r, &st);
  Quantized qx = quantize_with_scale(x.data(), M, K, Format::e4m3, 1.0f);
  Quantized qw = quantize_with_scale(w.data(), K, N, Format::e4m3, 1.0f);
  check_against_reference(vec(p1.y), qx, qw);
  EXPECT_EQ(st.pending(), (std::vector<double>{amax(x), amax(w), amax(dy)}));
  {
    NoGradGuard no_grad;  // evaluation: uses the scales, records nothing
    fp8_matmul(tensor_of(std::vector<float>(x.size(), 1000.0f), {M, K}), tensor_of(w, {K, N}), r, &st);
  }
  EXPECT_EQ(st.pending()[0], double(amax(x)));
  st.update();
  EXPECT_EQ(st.pending(), (std::vector<double>{0, 0, 0}));
  EXPECT_EQ(vec(select(select(st.history(), 0, 0), 0, 0)), (std::vector<float>{0, 0, 0, amax(x)}));
  EXPECT_EQ(st.scale(0, Role::dy, Format::e5m2, ScaleRounding::none), 57344.0f / amax(dy));
  // Step 2 with x doubled: the lagging scale 448 / amax(x) saturates the
  // largest values; the op is exactly that quantisation.
  std::vector<float> x2 = x;
  for (float& v : x2) v *= 2.0f;
  const Pass p2 = run_op(x2, w, dy, M, K, N, r, &st);
  qx = quantize_with_scale(x2.data(), M, K, Format::e4m3, 448.0f / amax(x));
  qw = quantize_with_scale(w.data(), K, N, Format::e4m3, 448.0f / amax(w));
  const Quantized qdy = quantize_with_scale(dy.data(), M, N, Format::e5m2, 57344.0f / amax(dy));
  check_against_reference(vec(p2.y), qx, qw);
  check_against_reference(vec(p2.dx), qdy, transposed(qw));
  check_against_reference(vec(p2.dw), transposed(qx), qdy);
  int saturated = 0;
  for (uint8_t c : qx.codes) saturated += (c & 0x7F) == 0x7E;
  EXPECT_GT(saturated, 0);
  EXPECT_EQ(st.pending()[0], 2.0 * amax(x));
  // The state is required and must have one group per GEMM.
  EXPECT_THROW(fp8_matmul(tensor_of(x, {M, K}), tensor_of(w, {K, N}), r), Error);
  DelayedScaling two(2, 4);
  EXPECT_THROW(fp8_matmul(tensor_of(x, {M, K}), tensor_of(w, {K, N}), r, &two), Error);
  EXPECT_THROW(DelayedScaling(1, 0), Error);
}

// Grouped: every expert is its own FP8 linear (own scales, own delayed
// state group): bitwise per-expert fp8_matmul, an empty expert gets a zero
// weight gradient and records nothing.
TEST(Fp8GroupedMatmul, EachGroupIsItsOwnFp8Linear) {
  const std::vector<int64_t> rows = {100, 0, 37, 150};
  const int64_t R = 287, K = 70, N = 40, G = 4;
  const std::vector<float> x = randn(R * K, 71), w = randn(G * K * N, 72, 0.05f), dy = randn(R * N, 73, 1e-3f);
  for (const GemmRecipe& r : {recipe(Scaling::tilewise), recipe(Scaling::per_tensor_current),
                              recipe(Scaling::per_tensor_delayed)}) {
    SCOPED_TRACE(scaling_name(r.scaling));
    DelayedScaling st(G, 2), per_group(1, 2);
    // Warm both states with one identical update so that delayed scales are not 1.
    for (int64_t g = 0; g < G; ++g)
      for (Role role : {Role::x, Role::w, Role::dy}) st.record(g, role, 0.5f + float(g));
    st.update();
    Tensor X = tensor_of(x, {R, K}).set_requires_grad(true), W = tensor_of(w, {G, K, N}).set_requires_grad(true);
    const Tensor y = fp8_grouped_matmul(X, W, rows, r, &st);
    sum(mul(y, tensor_of(dy, {R, N}))).backward();
    int64_t off = 0;
    for (int64_t g = 0; g < G; ++g) {
      const int64_t n = rows[size_t(g)];
      if (n == 0) {
        EXPECT_EQ(amax(abs(select(W.grad(), 0, g))).item(), 0.0);
        for (int64_t role = 0; role < kRoles; ++role) EXPECT_EQ(st.pending()[size_t(g * kRoles + role)], 0.0);
        continue;
      }
      DelayedScaling one(1, 2);
      for (Role role : {Role::x, Role::w, Role::dy}) one.record(0, role, 0.5f + float(g));
      one.update();
      Tensor Xg = contiguous(narrow(X.detach(), 0, off, n)).set_requires_grad(true);
      Tensor Wg = contiguous(select(W.detach(), 0, g)).set_requires_grad(true);
      const Tensor yg = fp8_matmul(Xg, Wg, r, &one);
      sum(mul(yg, narrow(tensor_of(dy, {R, N}), 0, off, n))).backward();
      EXPECT_TRUE(bitwise_equal(narrow(y, 0, off, n), yg)) << "expert " << g;
      EXPECT_TRUE(bitwise_equal(narrow(X.grad(), 0, off, n), Xg.grad())) << "expert " << g;
      EXPECT_TRUE(bitwise_equal(select(W.grad(), 0, g), Wg.grad())) << "expert " << g;
      if (r.scaling == Scaling::per_tensor_delayed) {
        for (int64_t role = 0; role < kRoles; ++role)
          EXPECT_EQ(st.pending()[size_t(g * kRoles + role)], one.pending()[size_t(role)]);
      }
      off += n;
    }
  }
  // fprop off: the forward is grouped_matmul's.
  GemmRecipe off = recipe(Scaling::tilewise);
  off.fprop = false;
  const Tensor X = tensor_of(x, {R, K}), W = tensor_of(w, {G, K, N});
  EXPECT_TRUE(bitwise_equal(fp8_grouped_matmul(X, W, rows, off), grouped_matmul(X, W, rows)));
  EXPECT_THROW(fp8_grouped_matmul(X, W, {100, 0, 37}, off), Error);
}

// Given codes (the FP8 dispatch's arrivals): the tile-wise fprop multiplies
// them instead of quantising x, so codes of 2x give the product of 2x
// bitwise; backward still reads x (the same gradients as without codes);
// per-tensor recipes ignore them; codes of another shape are refused.
TEST(Fp8GroupedMatmul, TilewiseFpropMultipliesGivenCodes) {
  const std::vector<int64_t> rows = {100, 0, 37, 150};
  const int64_t R = 287, K = 200, N = 40, G = 4;
  const std::vector<float> x = randn(R * K, 81), w = randn(G * K * N, 82, 0.05f), dy = randn(R * N, 83, 1e-3f);
  const Tensor X2 = mul(tensor_of(x, {R, K}), 2.0);
  const QuantizedTensor codes = to_tensors(quantize(X2, Format::e4m3, Layout::tile_1x128), Device::cpu());
  for (const GemmRecipe& r : {recipe(Scaling::tilewise), recipe(Scaling::per_tensor_current)}) {
    SCOPED_TRACE(scaling_name(r.scaling));
    Tensor X = tensor_of(x, {R, K}).set_requires_grad(true), W = tensor_of(w, {G, K, N}).set_requires_grad(true);
    const Tensor y = fp8_grouped_matmul(X, W, rows, r, nullptr, &codes);
    sum(mul(y, tensor_of(dy, {R, N}))).backward();
    Tensor Xr = tensor_of(x, {R, K}).set_requires_grad(true), Wr = tensor_of(w, {G, K, N}).set_requires_grad(true);
    const Tensor yr = fp8_grouped_matmul(Xr, Wr, rows, r);
    sum(mul(yr, tensor_of(dy, {R, N}))).backward();
    if (r.scaling == Scaling::tilewise)
      EXPECT_TRUE(bitwise_equal(y, fp8_grouped_matmul(X2, W.detach(), rows, r)));
    else
      EXPECT_TRUE(bitwise_equal(y, yr));
    EXPECT_TRUE(bitwise_equal(X.grad(), Xr.grad()));
    EXPECT_TRUE(bitwise_equal(W.grad(), Wr.grad()));
  }
  const Tensor X = tensor_of(x, {R, K}), W = tensor_of(w, {G, K, N});
  const QuantizedTensor other =
      to_tensors(quantize(contiguous(narrow(X, 1, 0, 128)), Format::e4m3, Layout::tile_1x128), Device::cpu());
  EXPECT_THROW(fp8_grouped_matmul(X, W, rows, recipe(Scaling::tilewise), nullptr, &other), Error);
}

}  // namespace
}  // namespace moe::fp8
