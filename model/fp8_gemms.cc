#include "model/fp8_gemms.h"

#include "core/ops.h"

namespace moe::model {

std::optional<fp8::GemmRecipe> fp8_recipe(const config::ModelConfig& c, Fp8Gemms which) {
  const config::Fp8Config& f = c.fp8();
  if (f.recipe() == config::FP8_OFF) return std::nullopt;
  const bool selected = which == Fp8Gemms::attention_proj ? f.attention_proj()
                        : which == Fp8Gemms::dense_mlp    ? f.dense_mlp()
                                                          : f.experts();
  if (!selected || !(f.fprop() || f.dgrad() || f.wgrad())) return std::nullopt;
  fp8::GemmRecipe r;
  r.scaling = f.recipe() == config::FP8_TILEWISE         ? fp8::Scaling::tilewise
              : f.recipe() == config::FP8_PER_TENSOR_DELAYED ? fp8::Scaling::per_tensor_delayed
                                                             : fp8::Scaling::per_tensor_current;
  r.grad_format = f.grad_format() == config::FP8_E4M3 ? fp8::Format::e4m3 : fp8::Format::e5m2;
  r.rounding = f.pow2_scales() ? fp8::ScaleRounding::pow2_down : fp8::ScaleRounding::none;
  r.chunk = f.promotion_interval();
  r.fprop = f.fprop();
  r.dgrad = f.dgrad();
  r.wgrad = f.wgrad();
  return r;
}

Fp8Gemm::Fp8Gemm(const fp8::GemmRecipe& r, int64_t groups, int64_t history_len) : recipe_(r) {
  if (r.scaling == fp8::Scaling::per_tensor_delayed)
    state_ = std::make_unique<fp8::DelayedScaling>(groups, history_len);
}

Tensor Fp8Gemm::matmul(const Tensor& x, const Tensor& w) const {
  return recipe_ ? fp8_matmul(x, w, *recipe_, state_.get()) : moe::matmul(x, w);
}

Tensor Fp8Gemm::grouped(const Tensor& x, const Tensor& w, const std::vector<int64_t>& group_rows,
                        const Fp8Rows* x_codes) const {
  if (!recipe_) return grouped_matmul(x, w, group_rows);
  if (!x_codes || !x_codes->defined()) return fp8_grouped_matmul(x, w, group_rows, *recipe_, state_.get());
  const fp8::QuantizedTensor q = x_codes->quantized();
  return fp8_grouped_matmul(x, w, group_rows, *recipe_, state_.get(), &q);
}

}  // namespace moe::model
