#include "launch/param_update.h"

#include <cmath>

#include "optim/clip.h"
#include "parallel/grad_norm.h"

namespace moe::launch {

ParamUpdater::ParamUpdater(parallel::Mesh& mesh, const std::vector<model::Named>& params,
                           const config::TrainConfig& cfg)
    : mesh_(mesh) {
  for (const model::Named& p : params) params_.push_back({p.name, p.tensor, p.shard.cls});
  if (cfg.parallel().zero1()) {
    zero1_ = std::make_unique<parallel::Zero1>(mesh, params_, cfg.optim());
    return;
  }
  std::vector<optim::NamedParam> named;
  for (const parallel::ClassedParam& p : params_) named.push_back({p.name, p.param});
  opt_ = optim::make_optimizer(cfg.optim(), named);
  if (mesh.world().size() > 1) {
    parallel::GradSyncOptions o;
    o.bucket_bytes = cfg.parallel().grad_bucket_mb() << 20;
    o.overlap = cfg.parallel().overlap_grad_sync();
    sync_ = std::make_unique<parallel::GradSync>(mesh, params_, o);
  }
}

void ParamUpdater::begin_micro_batch(bool last) {
  if (sync_) sync_->set_sync_enabled(last);
}

double ParamUpdater::finish_gradients(double max_norm) {
  if (zero1_) {
    zero1_->reduce_gradients();
    return max_norm > 0 ? zero1_->clip_grad_norm(max_norm) : zero1_->grad_norm();
  }
  if (sync_) {
    sync_->finish();
    return max_norm > 0 ? parallel::clip_global_grad_norm(mesh_, params_, max_norm)
                        : parallel::global_grad_norm(mesh_, params_);
  }
  std::vector<Tensor> t;
  for (const parallel::ClassedParam& p : params_) t.push_back(p.param);
  return max_norm > 0 ? optim::clip_grad_norm(t, max_norm) : std::sqrt(optim::grad_sq_norm(t));
}

void ParamUpdater::step(double lr) {
  if (zero1_)
    zero1_->step(lr);
  else
    opt_->step(lr);
}

void ParamUpdater::zero_grad() {
  if (zero1_)
    zero1_->zero_grad();
  else
    opt_->zero_grad();
}

optim::Optimizer& ParamUpdater::optimizer() { return zero1_ ? zero1_->local_optimizer() : *opt_; }

}  // namespace moe::launch
