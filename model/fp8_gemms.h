#pragma once
// Which GEMMs of the model run in FP8 (model.fp8, config.proto's
// Fp8Config; the recipes: core/fp8/recipe.h). Attention projections, dense
// SwiGLU MLPs and the experts (routed and shared) can; the router, norms,
// softmax, embedding, output head and losses never do.
//
// Delayed scaling keeps state: each FP8 weight's amax histories (x, w, dy;
// one group per expert for grouped weights) are a module buffer named
// "<weight>.fp8_amax_history" [groups, 3, amax_history_len], so checkpoints
// hold them; a training step records the amaxes it saw and the trainer
// pushes them after the step (Transformer::update_fp8_scaling), reduced
// (max) over the ranks that share the weight, so replicas keep one history.
//
// Parallel layouts (docs/fp8.md): tile-wise scales are per token / weight
// block / 128 tokens of a channel (wgrad), so DP and EP compute one rank's
// numbers when the wgrad token tiles are one rank's (a multiple of 128
// tokens per rank, experts not split over EDP replicas). Per-tensor current
// scales come from the local micro-batch's amax (no collective in the
// GEMMs): layouts and micro-batching change them. Delayed histories are the
// same on every rank. TP: config_validate.cc refuses per-tensor recipes and
// tile-wise splits that cut a 128-channel tile.
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "core/fp8/recipe.h"
#include "core/tensor.h"
#include "model/config.pb.h"
#include "model/fp8_dispatch.h"

namespace moe::model {

enum class Fp8Gemms { attention_proj, dense_mlp, experts };

// The recipe of that class of GEMMs, or nullopt where they stay in higher
// precision (recipe FP8_OFF, the class not selected, or no pass selected).
std::optional<fp8::GemmRecipe> fp8_recipe(const config::ModelConfig& c, Fp8Gemms which);

// The GEMMs of one weight (or grouped weight) as configured: FP8 with its
// delayed-scaling state, or the plain ops.
class Fp8Gemm {
 public:
  Fp8Gemm() = default;  // plain matmul / grouped_matmul
  // groups: 1 for a linear, the local experts for a grouped weight.
  Fp8Gemm(const fp8::GemmRecipe& r, int64_t groups, int64_t history_len);
  bool fp8() const { return recipe_.has_value(); }
  // Null unless the recipe is per_tensor_delayed.
  fp8::DelayedScaling* state() const { return state_.get(); }
  Tensor matmul(const Tensor& x, const Tensor& w) const;
  // x_codes: x's FP8 dispatch codes, multiplied as they are by a tile-wise
  // recipe's fprop (fp8_grouped_matmul); null or ignored otherwise.
  Tensor grouped(const Tensor& x, const Tensor& w, const std::vector<int64_t>& group_rows,
                 const Fp8Rows* x_codes = nullptr) const;

 private:
  std::optional<fp8::GemmRecipe> recipe_;
  std::unique_ptr<fp8::DelayedScaling> state_;
};

}  // namespace moe::model
