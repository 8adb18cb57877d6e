#include "parallel/zero1.h"

#include <algorithm>
#include <cstring>
#include <numeric>

#include "core/autograd.h"
#include "core/error.h"
#include "core/ops.h"
#include "parallel/grad_norm.h"

namespace moe::parallel {

comm::Communicator& zero1_shard_group(Mesh& mesh, ParamClass cls) {
  return cls == ParamClass::expert ? mesh.edp() : mesh.dp();
}

std::vector<int> plan_zero1_owners(const std::vector<ClassedParam>& params, int dp_size, int edp_size) {
  MOE_CHECK(dp_size >= 1 && edp_size >= 1, "Zero1: shard groups need >= 1 rank, got dp ", dp_size, ", edp ",
            edp_size);
  std::vector<int> owners(params.size(), 0);
  for (bool expert : {false, true}) {
    std::vector<size_t> order;
    for (size_t i = 0; i < params.size(); ++i)
      if ((params[i].cls == ParamClass::expert) == expert) order.push_back(i);
    // Largest first; stable: equal sizes keep registration order.
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return params[a].param.numel() > params[b].param.numel(); });
    std::vector<int64_t> load(size_t(expert ? edp_size : dp_size), 0);
    for (size_t i : order) {
      const size_t r = size_t(std::min_element(load.begin(), load.end()) - load.begin());  // first minimum
      owners[i] = int(r);
      load[r] += params[i].param.numel();
    }
  }
  return owners;
}

namespace {

float* f32(const Tensor& t) { return t.data<float>(); }

}  // namespace

Zero1::Zero1(Mesh& mesh, std::vector<ClassedParam> params, const config::OptimizerConfig& cfg)
    : mesh_(mesh), params_(std::move(params)) {
  for (const ClassedParam& p : params_)
    MOE_CHECK(p.param.defined() && p.param.dtype() == DType::f32 && p.param.device().is_cpu() &&
                  p.param.is_contiguous(),
              "Zero1: parameter '", p.name, "' must be a contiguous f32 CPU tensor, got ",
              p.param.defined() ? p.param.str() : "undefined");
  check_same_params_in_groups(mesh, params_, "Zero1");
  owners_ = plan_zero1_owners(params_, mesh.sizes().dp(), mesh.sizes().edp());
  for (ParamClass cls : {ParamClass::replicated, ParamClass::tp_sharded, ParamClass::expert}) {
    Layout l;
    l.cls = cls;
    l.segments.resize(size_t(zero1_shard_group(mesh, cls).size()));
    std::vector<int64_t> numel(l.segments.size(), 0);
    for (size_t i = 0; i < params_.size(); ++i) {
      if (params_[i].cls != cls) continue;
      l.segments[size_t(owners_[i])].push_back(i);
      numel[size_t(owners_[i])] += params_[i].param.numel();
    }
    l.segment_numel = *std::max_element(numel.begin(), numel.end());
    if (l.segment_numel > 0) layouts_.push_back(std::move(l));
  }
  std::vector<optim::NamedParam> mine;
  for (size_t i = 0; i < params_.size(); ++i)
    if (owns(i)) {
      owned_.push_back(i);
      mine.push_back({params_[i].name, params_[i].param});
    }
  opt_ = optim::make_optimizer(cfg, std::move(mine));
}

bool Zero1::owns(size_t i) const { return owners_[i] == zero1_shard_group(mesh_, params_[i].cls).rank(); }

// Calls fn(param index, element offset in the segment) for segment r.
template <typename Fn>
void Zero1::for_each_in_segment(const Layout& l, int r, Fn fn) const {
  int64_t off = 0;
  for (size_t i : l.segments[size_t(r)]) {
    fn(i, off);
    off += params_[i].param.numel();
  }
}

void Zero1::reduce_gradients() {
  NoGradGuard no_grad;
  const int64_t dp = mesh_.sizes().dp();
  for (const Layout& l : layouts_) {
    comm::Communicator& group = zero1_shard_group(mesh_, l.cls);
    const int g = group.size();
    Tensor flat = zeros({int64_t(g) * l.segment_numel});  // padding stays zero
    for (int r = 0; r < g; ++r)
      for_each_in_segment(l, r, [&](size_t i, int64_t off) {
        Tensor gr = params_[i].param.grad();
        if (!gr.defined()) return;
        MOE_CHECK(gr.shape() == params_[i].param.shape(), "Zero1: gradient of '", params_[i].name,
                  "' has shape ", shape_str(gr.shape()), ", the parameter ", shape_str(params_[i].param.shape()));
        if (gr.dtype() != DType::f32) gr = cast(gr, DType::f32);
        if (!gr.is_contiguous()) gr = contiguous(gr);
        std::memcpy(f32(flat) + r * l.segment_numel + off, f32(gr), size_t(gr.numel()) * sizeof(float));
      });
    // Replicated gradients are partial per TP rank: the world sum is the TP
    // sum followed by the DP sum.
    if (l.cls == ParamClass::replicated && mesh_.tp().size() > 1) mesh_.tp().all_reduce(flat, comm::ReduceOp::sum);
    Tensor mine = g > 1 ? group.reduce_scatter(flat, comm::ReduceOp::sum, 0) : flat;
    float* d = f32(mine);
    const float f = float(dp);
    if (dp > 1)
      for (int64_t k = 0; k < l.segment_numel; ++k) d[k] /= f;
    for (int r = 0; r < g; ++r) {
      if (r != group.rank()) {
        for (size_t i : l.segments[size_t(r)]) params_[i].param.zero_grad();
        continue;
      }
      for_each_in_segment(l, r, [&](size_t i, int64_t off) {
        Tensor gr = empty(params_[i].param.shape());
        std::memcpy(f32(gr), d + off, size_t(gr.numel()) * sizeof(float));
        params_[i].param.set_grad(gr);
      });
    }
  }
}

double Zero1::grad_norm() { return global_grad_norm(mesh_, params_, GradLayout::zero1_owned); }

double Zero1::clip_grad_norm(double max_norm) {
  return clip_global_grad_norm(mesh_, params_, max_norm, GradLayout::zero1_owned);
}

void Zero1::step(double lr) {
  opt_->step(lr);
  NoGradGuard no_grad;
  for (const Layout& l : layouts_) {
    comm::Communicator& group = zero1_shard_group(mesh_, l.cls);
    const int g = group.size();
    if (g == 1) continue;  // this rank owns every parameter of the class
    Tensor seg = zeros({l.segment_numel});
    for_each_in_segment(l, group.rank(), [&](size_t i, int64_t off) {
      std::memcpy(f32(seg) + off, f32(params_[i].param), size_t(params_[i].param.numel()) * sizeof(float));
    });
    const Tensor all = group.all_gather(seg, 0);
    for (int r = 0; r < g; ++r) {
      if (r == group.rank()) continue;
      for_each_in_segment(l, r, [&](size_t i, int64_t off) {
        const Tensor& p = params_[i].param;
        std::memcpy(f32(p), f32(all) + r * l.segment_numel + off, size_t(p.numel()) * sizeof(float));
        p.bump_version();
      });
    }
  }
}

void Zero1::zero_grad() {
  for (ClassedParam& p : params_) p.param.zero_grad();
}

}  // namespace moe::parallel
