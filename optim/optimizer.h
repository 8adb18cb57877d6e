#pragma once
// The optimizer interface: a fixed list of named f32 CPU parameters, updated
// in place from their current .grad() once per step().
//
// Parameters without a gradient in a step are skipped entirely (no decay, no
// state change), as in PyTorch. Optimizer state is allocated up front, so
// state() has the same names and shapes before and after the first step.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "core/tensor.h"
#include "optim/config.pb.h"

namespace moe::optim {

struct NamedParam {
  std::string name;
  Tensor param;
};

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  // One update with learning rate `lr` (the schedule's value for this step).
  virtual void step(double lr) = 0;
  // Drops every parameter's gradient (PyTorch's set_to_none).
  void zero_grad();

  // The named state tensors, "<param name>.<kind>" (e.g.
  // "layers.0.attn.wq.weight.exp_avg"), including per-parameter step
  // counters (i64 scalars). These are the live tensors, not copies: write
  // them out (or clone them) before the next step.
  virtual NamedTensors state() const = 0;
  // Restores a state() taken earlier from an optimizer over the same
  // parameters: every name must be present exactly once, with the same shape
  // and dtype; nothing is changed unless all of them check out.
  absl::Status load_state(const NamedTensors& saved);

  const std::vector<NamedParam>& params() const { return params_; }

 protected:
  // Checks the parameters: unique non-empty names, defined f32 contiguous
  // CPU tensors. Throws moe::Error naming the offending parameter.
  explicit Optimizer(std::vector<NamedParam> params);
  // The gradient of params()[i] as contiguous f32 of the parameter's shape,
  // or an undefined tensor when it has none (then skip the parameter).
  Tensor grad_of(size_t i) const;

 private:
  std::vector<NamedParam> params_;
};

// AdamW or Muon (with AdamW for the non-matrix parameters) as cfg.kind says.
// Throws moe::Error when cfg fails validate_optimizer_config.
std::unique_ptr<Optimizer> make_optimizer(const config::OptimizerConfig& cfg, std::vector<NamedParam> params);

// Checks the optimizer fields (lr > 0, betas in [0, 1), eps > 0,
// weight_decay >= 0, grad_clip >= 0, Muon momentum in [0, 1), ns_steps >= 1,
// rms_match > 0, qk_clip_threshold >= 0); names the offending field.
absl::Status validate_optimizer_config(const config::OptimizerConfig& cfg);

}  // namespace moe::optim
