#pragma once
// FP8 training recipes (issue 8): how each operand of a linear layer's three
// GEMMs is quantised, and the state of delayed scaling.
//
// For y = x w with x [M, K] (M tokens), w [K, N], dy = dL/dy [M, N]:
//   GEMM    A      B      computes
//   fprop   x      w      y  = x w
//   dgrad   dy     w^T    dx = dy w^T
//   wgrad   x^T    dy     dw = x^T dy
//
// tilewise (DeepSeek-V3): every operand E4M3, each scaled along its GEMM's
//   K in tiles of 128: fprop x and dgrad dy in 1x128 tiles (per token, per
//   128 channels); wgrad's K is the tokens, so x^T and dy are quantised in
//   128x1 tiles along the token dimension (a transposed quantisation: each
//   channel's 128 tokens share a scale); w in 128x128 blocks, read
//   transposed (the same blocks) for dgrad. DeepSeek-V3 makes the 128x1 copy
//   of x from its FP8 forward copy (dequantise, transpose, re-quantise); we
//   quantise the saved f32 activation: one rounding instead of two.
// per_tensor_current / per_tensor_delayed: x and w E4M3, dy in grad_format,
//   one scale per tensor (x^T, w^T: the same codes read transposed), from
//   the tensor's amax now (current) or from the largest amax of its history
//   (delayed: DelayedScaling below).
// Scales may be rounded down to powers of two (rounding); the GEMMs promote
// their f32 partial sums every `chunk` elements of K (fp8/gemm.h).
#include <cstdint>
#include <vector>

#include "core/fp8/scaling.h"
#include "core/tensor.h"

namespace moe::fp8 {

enum class Scaling : uint8_t { per_tensor_current, per_tensor_delayed, tilewise };
const char* scaling_name(Scaling s);

struct GemmRecipe {
  Scaling scaling = Scaling::tilewise;
  Format grad_format = Format::e5m2;  // dy of the per-tensor recipes (tile-wise: E4M3)
  ScaleRounding rounding = ScaleRounding::none;
  int64_t chunk = 128;                // promotion interval N_C
  // Which of the three GEMMs run in FP8 (the others in f32 / MatmulPrecision).
  bool fprop = true, dgrad = true, wgrad = true;
};

// The tensors of a linear layer that carry a scale.
enum class Role : uint8_t { x = 0, w = 1, dy = 2 };
inline constexpr int64_t kRoles = 3;

// Delayed-scaling state of one FP8 linear (groups = 1) or of a grouped one
// (one group per expert): for every (group, role) an amax history, and the
// largest amax seen since the last update.
//
// Rule (core/fp8 AmaxHistory): a step's GEMMs use the scale of the history's
// max (scale 1 while the history is all zero, i.e. the first step); the
// amaxes the step records are pushed after it, by update(). Several uses in
// one step (micro-batches, w1 and w3 reading the same x) record their max.
class DelayedScaling {
 public:
  DelayedScaling(int64_t groups, int64_t history_len);
  int64_t groups() const { return groups_; }
  int64_t history_len() const { return len_; }
  // [groups, 3, history_len] f32, each history oldest first: the state a
  // checkpoint must hold (modules register it as a buffer; a load writes it
  // in place).
  Tensor& history() { return history_; }
  const Tensor& history() const { return history_; }
  float scale(int64_t group, Role r, Format f, ScaleRounding rounding) const;
  // Folds a (finite, >= 0) amax into the step's maximum.
  void record(int64_t group, Role r, float amax);
  // [groups * 3] step maxima (group-major): a caller on several ranks
  // replaces them by their max over the ranks that share this state, so
  // that every replica keeps the same history.
  std::vector<double>& pending() { return pending_; }
  // After the optimizer step: each pending amax into its history
  // (AmaxHistory::update), pending reset to 0.
  void update();

 private:
  int64_t groups_, len_;
  Tensor history_;
  std::vector<double> pending_;
};

}  // namespace moe::fp8
