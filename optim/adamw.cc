#include "optim/adamw.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.h"
#include "core/ops.h"
#include "core/parallel.h"
#include "optim/moments.h"
#include "optim/param_rules.h"

namespace moe::optim {

namespace {

// The per-step constants of one parameter's update, folded in double and
// rounded once to f32 so the element loop is pure f32 arithmetic.
struct AdamWScalars {
  float decay;         // 1 - lr * wd
  float beta1, one_minus_beta1;
  float beta2, one_minus_beta2;
  float step_size;     // lr / (1 - b1^t)
  float inv_sqrt_bc2;  // 1 / sqrt(1 - b2^t)
  float eps;
};

// Elements [b, e) of one parameter. Element-wise, so any split over threads
// gives the same bits. M: the moments' storage type (optim/moments.h).
template <typename M>
void adamw_update(float* p, const float* g, M* m, M* v, int64_t b, int64_t e, const AdamWScalars& s) {
  for (int64_t i = b; i < e; ++i) {
    const float gi = g[i];
    const float mi = s.beta1 * load_moment(m, i) + s.one_minus_beta1 * gi;
    const float vi = s.beta2 * load_moment(v, i) + s.one_minus_beta2 * gi * gi;
    store_moment(m, i, mi);
    store_moment(v, i, vi);
    p[i] = p[i] * s.decay - s.step_size * mi / (std::sqrt(vi) * s.inv_sqrt_bc2 + s.eps);
  }
}

// Elements of all parameters go in chunks of this many to one parallel pass
// (one region a step instead of one a parameter, most of which were too
// small to split and ran on one thread).
constexpr int64_t kUpdateChunk = 1 << 14;

}  // namespace

AdamW::AdamW(std::vector<NamedParam> params, const config::OptimizerConfig& cfg)
    : Optimizer(std::move(params)), beta1_(cfg.beta1()), beta2_(cfg.beta2()), eps_(cfg.eps()) {
  const std::vector<std::string> patterns(cfg.no_decay().begin(), cfg.no_decay().end());
  const DType moments = moment_dtype(cfg);
  for (const NamedParam& np : this->params()) {
    Slot s;
    s.exp_avg = zeros(np.param.shape(), moments);
    s.exp_avg_sq = zeros(np.param.shape(), moments);
    s.step = zeros({}, DType::i64);
    s.weight_decay = is_no_decay(np.name, patterns) ? 0.0 : cfg.weight_decay();
    slots_.push_back(std::move(s));
  }
}

void AdamW::step(double lr) {
  struct Chunk {
    size_t slot;
    int64_t begin, end;
  };
  std::vector<AdamWScalars> consts(slots_.size());
  std::vector<Tensor> grads(slots_.size());
  std::vector<Chunk> chunks;
  for (size_t i = 0; i < slots_.size(); ++i) {
    grads[i] = grad_of(i);
    if (!grads[i].defined()) continue;
    Slot& s = slots_[i];
    dispatch_moment(s.exp_avg.dtype(), [](auto) {});  // a bad dtype throws here, not inside the parallel pass
    const int64_t t = ++*s.step.data<int64_t>();
    const double bc1 = 1.0 - std::pow(beta1_, double(t));
    const double bc2 = 1.0 - std::pow(beta2_, double(t));
    consts[i] = AdamWScalars{float(1.0 - lr * s.weight_decay),
                             float(beta1_),
                             float(1.0 - beta1_),
                             float(beta2_),
                             float(1.0 - beta2_),
                             float(lr / bc1),
                             float(1.0 / std::sqrt(bc2)),
                             float(eps_)};
    const int64_t n = params()[i].param.numel();
    for (int64_t b = 0; b < n; b += kUpdateChunk) chunks.push_back({i, b, std::min(n, b + kUpdateChunk)});
  }
  parallel_for(int64_t(chunks.size()), 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      const Chunk& k = chunks[size_t(c)];
      const Slot& s = slots_[k.slot];
      dispatch_moment(s.exp_avg.dtype(), [&](auto tag) {
        using M = typename decltype(tag)::type;
        adamw_update(params()[k.slot].param.data<float>(), grads[k.slot].data<float>(), s.exp_avg.data<M>(),
                     s.exp_avg_sq.data<M>(), k.begin, k.end, consts[k.slot]);
      });
    }
  });
  for (size_t i = 0; i < slots_.size(); ++i) {
    if (!grads[i].defined()) continue;
    params()[i].param.bump_version();
    slots_[i].exp_avg.bump_version();
    slots_[i].exp_avg_sq.bump_version();
    slots_[i].step.bump_version();
  }
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
