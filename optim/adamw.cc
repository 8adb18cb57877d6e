#include "optim/adamw.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.h"
#include "core/ops.h"
#include "optim/moments.h"
#include "optim/param_rules.h"

namespace moe::optim {

AdamW::AdamW(std::vector<NamedParam> params, const config::OptimizerConfig& cfg)
    : Optimizer(std::move(params)), beta1_(cfg.beta1()), beta2_(cfg.beta2()), eps_(cfg.eps()) {
  const std::vector<std::string> patterns(cfg.no_decay().begin(), cfg.no_decay().end());
  const DType moments = moment_dtype(cfg);
  for (const NamedParam& np : this->params()) {
    Slot s;
    s.exp_avg = zeros(np.param.shape(), moments, np.param.device());
    s.exp_avg_sq = zeros(np.param.shape(), moments, np.param.device());
    s.step = zeros({}, DType::i64);
    s.weight_decay = is_no_decay(np.name, patterns) ? 0.0 : cfg.weight_decay();
    slots_.push_back(std::move(s));
  }
}

void AdamW::step(double lr) {
  std::vector<AdamWTensors> update;
  for (size_t i = 0; i < slots_.size(); ++i) {
    const Tensor g = grad_of(i);
    if (!g.defined()) continue;
    Slot& s = slots_[i];
    const int64_t t = ++*s.step.data<int64_t>();  // the step count stays on the host
    s.step.bump_version();
    const auto k = optim_math::adamw_scalars(lr, beta1_, beta2_, eps_, s.weight_decay, t);
    update.push_back({params()[i].param, g, s.exp_avg, s.exp_avg_sq, k});
  }
  adamw_update_(update);
}

NamedTensors AdamW::state() const {
  NamedTensors out;
  for (size_t i = 0; i < slots_.size(); ++i) {
    const std::string& name = params()[i].name;
    out.emplace_back(name + ".exp_avg", slots_[i].exp_avg);
    out.emplace_back(name + ".exp_avg_sq", slots_[i].exp_avg_sq);
    out.emplace_back(name + ".step", slots_[i].step);
  }
  return out;
}

}  // namespace moe::optim
