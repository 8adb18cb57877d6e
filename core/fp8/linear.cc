#include "core/fp8/linear.h"

#include "core/error.h"

namespace moe::fp8 {

namespace {

void check_operand(const Tensor& t, const char* name) {
  MOE_CHECK(t.defined() && t.dim() == 2 && t.dtype() == DType::f32 && t.device().is_cpu() && t.is_contiguous(),
            "fp8 linear: ", name, " must be a contiguous 2-D f32 CPU tensor, got ", t.defined() ? t.str() : "undefined");
}

// Quantises `t` playing `role` in a GEMM; `tile` is the layout a tile-wise
// recipe uses for it (per-tensor recipes: one scale).
Quantized quantize_role(const Tensor& t, Role role, Layout tile, const GemmRecipe& r, const ScaleSource& s,
                        const char* name) {
  check_operand(t, name);
  const float* p = t.data<float>();
  const int64_t rows = t.size(0), cols = t.size(1);
  if (r.scaling == Scaling::tilewise) return quantize(p, rows, cols, Format::e4m3, tile, r.rounding, name);
  const Format f = role == Role::dy ? r.grad_format : Format::e4m3;
  if (r.scaling == Scaling::per_tensor_current) return quantize(p, rows, cols, f, Layout::per_tensor, r.rounding, name);
  MOE_CHECK(s.state != nullptr, "fp8 linear: per_tensor_delayed scaling needs its DelayedScaling state");
  Quantized q = quantize_with_scale(p, rows, cols, f, s.state->scale(s.group, role, f, r.rounding), name);
  if (s.record) s.state->record(s.group, role, q.amax);
  return q;
}

}  // namespace

Operands fprop_operands(const Tensor& x, const Tensor& w, const GemmRecipe& r, const ScaleSource& s) {
  return {quantize_role(x, Role::x, Layout::tile_1x128, r, s, "x"),
          quantize_role(w, Role::w, Layout::block_128x128, r, s, "w")};
}

Operands fprop_operands(const Quantized& xq, const Tensor& w, const GemmRecipe& r, const ScaleSource& s) {
  return {xq, quantize_role(w, Role::w, Layout::block_128x128, r, s, "w")};
}

Operands dgrad_operands(const Tensor& dy, const Tensor& w, const GemmRecipe& r, const ScaleSource& s) {
  return {quantize_role(dy, Role::dy, Layout::tile_1x128, r, s, "dy"),
          transposed(quantize_role(w, Role::w, Layout::block_128x128, r, s, "w"))};
}

Operands wgrad_operands(const Tensor& x, const Tensor& dy, const GemmRecipe& r, const ScaleSource& s) {
  // K is the token dimension: both operands are scaled along it.
  return {transposed(quantize_role(x, Role::x, Layout::tile_128x1, r, s, "x")),
          quantize_role(dy, Role::dy, Layout::tile_128x1, r, s, "dy")};
}

Tensor product(const Operands& o, const GemmRecipe& r) { return gemm_blas(o.a, o.b, r.chunk); }

}  // namespace moe::fp8
