#include "parallel/grad_norm.h"

#include <cmath>

#include "core/ops.h"
#include "optim/clip.h"

namespace moe::parallel {

ClassSqNorms local_sq_norms(const std::vector<ClassedParam>& params) {
  std::vector<Tensor> rep, tp, exp;
  for (const ClassedParam& p : params) {
    switch (p.cls) {
      case ParamClass::replicated: rep.push_back(p.param); break;
      case ParamClass::tp_sharded: tp.push_back(p.param); break;
      case ParamClass::expert: exp.push_back(p.param); break;
    }
  }
  return {optim::grad_sq_norm(rep), optim::grad_sq_norm(tp), optim::grad_sq_norm(exp)};
}

double global_grad_norm(Mesh& mesh, const ClassSqNorms& local, GradLayout layout) {
  const MeshSizes& s = mesh.sizes();
  Tensor mine = from_vector({local.replicated, local.tp_sharded, local.expert}, {3}, DType::f64);
  const Tensor all = s.world > 1 ? mesh.world().all_gather(mine, 0) : mine;
  const double* v = all.data<double>();
  double total = 0;
  for (int r = 0; r < s.world; ++r) {
    const int dp_rank = r / s.tp, tp_rank = r % s.tp, edp_rank = r / s.ep;
    const double* x = v + 3 * r;
    if (layout == GradLayout::replicas) {
      // One copy of everything: rank 0's replicated part, the TP group of
      // dp rank 0 for tp_sharded slices, the EP group of edp rank 0 for experts.
      if (r == 0) total += x[0];
      if (dp_rank == 0) total += x[1];
      if (edp_rank == 0) total += x[2];
    } else {
      if (tp_rank == 0) total += x[0];
      total += x[1] + x[2];
    }
  }
  return std::sqrt(total);
}

double global_grad_norm(Mesh& mesh, const std::vector<ClassedParam>& params, GradLayout layout) {
  return global_grad_norm(mesh, local_sq_norms(params), layout);
}

double clip_global_grad_norm(Mesh& mesh, const std::vector<ClassedParam>& params, double max_norm,
                             GradLayout layout) {
  const double norm = global_grad_norm(mesh, params, layout);
  // The rule of optim::clip_grad_norm, applied with the global norm.
  if (const double f = optim::clip_factor(norm, max_norm); f != 1.0) {
    std::vector<Tensor> tensors;
    tensors.reserve(params.size());
    for (const ClassedParam& p : params) tensors.push_back(p.param);
    optim::scale_grads(tensors, f);
  }
  return norm;
}

}  // namespace moe::parallel
