#pragma once
// AdamW (Loshchilov & Hutter; torch.optim.AdamW semantics), one fused pass
// over each parameter, the moments m, v stored in f32 or bf16
// (optim.moment_dtype, optim/moments.h), the math in f32 either way:
//   p -= lr * wd * p
//   m  = b1 m + (1 - b1) g
//   v  = b2 v + (1 - b2) g^2
//   p -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
// with t the parameter's own step count (parameters skipped for lack of a
// gradient do not advance it). Parameters matching the no-decay rule
// (param_rules.h) use wd = 0.
#include <vector>

#include "optim/optimizer.h"

namespace moe::optim {

class AdamW final : public Optimizer {
 public:
  // Reads lr-independent fields: beta1, beta2, eps, weight_decay, no_decay.
  AdamW(std::vector<NamedParam> params, const config::OptimizerConfig& cfg);

  void step(double lr) override;
  // "<name>.exp_avg", "<name>.exp_avg_sq" (the moment dtype, the parameter's
  // shape) and "<name>.step" (i64 scalar) for every parameter.
  NamedTensors state() const override;

  // The weight decay applied to params()[i] (0 for the no-decay group).
  double weight_decay(size_t i) const { return slots_[i].weight_decay; }

 private:
  struct Slot {
    Tensor exp_avg, exp_avg_sq, step;
    double weight_decay = 0;
  };
  double beta1_, beta2_, eps_;
  std::vector<Slot> slots_;
};

}  // namespace moe::optim
