#include "optim/muon.h"

#include <algorithm>
#include <cmath>

#include "core/autograd.h"
#include "core/error.h"
#include "core/ops.h"
#include "core/threading.h"
#include "optim/moments.h"
#include "optim/newton_schulz.h"
#include "optim/param_rules.h"

namespace moe::optim {

Muon::Muon(std::vector<NamedParam> params, const config::OptimizerConfig& cfg)
    : Optimizer(std::move(params)), cfg_(cfg.muon()) {
  const std::vector<std::string> patterns(cfg.no_decay().begin(), cfg.no_decay().end());
  const DType moments = moment_dtype(cfg);
  std::vector<NamedParam> rest;
  for (size_t i = 0; i < this->params().size(); ++i) {
    const NamedParam& np = this->params()[i];
    if (is_muon_matrix(np.name, np.param.shape()) && np.param.numel() > 0) {
      // An explicit no_decay pattern may still exempt a matrix from decay.
      const double wd = is_no_decay(np.name, patterns) ? 0.0 : cfg.weight_decay();
      slots_.push_back({i, zeros(np.param.shape(), moments, np.param.device()), wd});
    } else {
      rest.push_back(np);
    }
  }
  adamw_ = std::make_unique<AdamW>(std::move(rest), cfg);
}

// On a GPU: the same update as ops on the device (each product of the
// Newton-Schulz iteration a cuBLASLt GEMM). The element steps round as the
// CPU loop's unless its compiler fused a multiply-add there.
void Muon::update_on_device(const Slot& s, const Tensor& g, double lr) {
  NoGradGuard no_grad;
  Tensor p = params()[s.index].param;
  const double mu = cfg_.momentum();
  const Tensor b = add(mul(cast(s.momentum, DType::f32), mu), g);
  Tensor buf = s.momentum;
  copy_(buf, b);
  const Tensor dir = cfg_.nesterov() ? add(g, mul(b, mu)) : b;
  const Tensor o = newton_schulz(dir, cfg_.ns_steps());
  const int64_t rows = p.size(-2), cols = p.size(-1);
  const float decay = float(1.0 - lr * s.weight_decay);
  const float step = float(lr * cfg_.rms_match() * std::sqrt(double(std::max(rows, cols))));
  copy_(p, sub(mul(p, double(decay)), mul(o, double(step))));
}

void Muon::update(const Slot& s, const Tensor& g, double lr) {
  const Tensor& p = params()[s.index].param;
  if (!p.device().is_cpu()) return update_on_device(s, g, lr);
  const int64_t n = p.numel();
  const float mu = float(cfg_.momentum());
  const float* gd = g.data<float>();
  const bool nesterov = cfg_.nesterov();

  // Momentum, and the direction: the Nesterov look-ahead, or the buffer's f32
  // value; a fresh tensor unless it is the f32 buffer itself.
  const bool f32_buffer = s.momentum.dtype() == DType::f32;
  Tensor dir = nesterov || !f32_buffer ? empty(p.shape()) : s.momentum;
  float* dd = dir.data<float>();
  moment_dtype_switch(s.momentum.dtype(), [&](auto tag) {
    using M = typename decltype(tag)::type;
    M* buf = s.momentum.data<M>();
    parallel_for(n, 1 << 14, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        const float bi = mu * optim_math::load_moment(buf[i]) + gd[i];
        optim_math::store_moment(buf[i], bi);
        dd[i] = nesterov ? gd[i] + mu * bi : bi;
      }
    });
  });
  s.momentum.bump_version();

  const Tensor o = newton_schulz(dir, cfg_.ns_steps());
  const int64_t rows = p.size(-2), cols = p.size(-1);
  const float decay = float(1.0 - lr * s.weight_decay);
  const float step = float(lr * cfg_.rms_match() * std::sqrt(double(std::max(rows, cols))));
  float* pd = p.data<float>();
  const float* od = o.data<float>();
  parallel_for(n, 1 << 14, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) pd[i] = pd[i] * decay - step * od[i];
  });
  p.bump_version();
}

void Muon::step(double lr) {
  for (const Slot& s : slots_) {
    const Tensor g = grad_of(s.index);
    if (g.defined()) update(s, g, lr);
  }
  adamw_->step(lr);
}

NamedTensors Muon::state() const {
  NamedTensors out;
  for (const Slot& s : slots_) out.emplace_back(params()[s.index].name + ".momentum_buffer", s.momentum);
  NamedTensors rest = adamw_->state();
  out.insert(out.end(), rest.begin(), rest.end());
  return out;
}

std::vector<std::string> Muon::muon_param_names() const {
  std::vector<std::string> out;
  for (const Slot& s : slots_) out.push_back(params()[s.index].name);
  return out;
}

}  // namespace moe::optim
