#pragma once
// The three GEMMs of an FP8 linear layer y = x w as the training path runs
// them, without autograd (the differentiable op is fp8_matmul, core/ops.h):
// the quantised operands of each GEMM per the recipe (fp8/recipe.h), and
// their product (fp8/gemm_blas.h). Tests hand the same operands to the
// reference fp8::gemm.
//
// x [M, K], w [K, N], dy [M, N]: f32, contiguous, on the CPU.
#include "core/fp8/gemm_blas.h"
#include "core/fp8/recipe.h"

namespace moe::fp8 {

// Where per_tensor_delayed scales come from (ignored by the other recipes):
// `state` group `group`; record: fold this use's amaxes into the step's
// maxima (training passes do; evaluation does not).
struct ScaleSource {
  DelayedScaling* state = nullptr;
  int64_t group = 0;
  bool record = false;
};

struct Operands {
  Quantized a, b;  // the GEMM is a . b
};

Operands fprop_operands(const Tensor& x, const Tensor& w, const GemmRecipe& r, const ScaleSource& s = {});  // x . w
// x already quantised (1x128 E4M3 tiles: the FP8 dispatch's rows): only w is.
Operands fprop_operands(const Quantized& xq, const Tensor& w, const GemmRecipe& r, const ScaleSource& s = {});
Operands dgrad_operands(const Tensor& dy, const Tensor& w, const GemmRecipe& r, const ScaleSource& s = {});  // dy . w^T
Operands wgrad_operands(const Tensor& x, const Tensor& dy, const GemmRecipe& r, const ScaleSource& s = {});  // x^T . dy

// gemm_blas(o.a, o.b, r.chunk).
Tensor product(const Operands& o, const GemmRecipe& r);

}  // namespace moe::fp8
