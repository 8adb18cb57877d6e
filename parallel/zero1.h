#pragma once
// ZeRO-1: the optimizer state sharded over the data-parallel replicas.
//
// Each parameter is owned by one rank of its shard group (dp for replicated
// and tp_sharded parameters, edp for experts), by whole parameters, so Muon
// sees whole matrices. Ownership is greedy by size: the parameters of a
// group, largest first (ties: registration order), each go to the rank with
// the fewest owned elements so far (ties: lowest rank) -- the same on every
// rank, a pure function of the parameter list.
//
// Per class, one flat buffer is laid out by owner: segment r holds the
// parameters owned by group rank r in registration order, every segment
// padded to the longest. Per step:
//   reduce_gradients(): reduce-scatter (sum) of the gradient buffer over the
//     shard group (replicated gradients are first summed over TP, so that the
//     total is the world sum the gradient rule asks for), / DP; each rank's
//     owned parameters get the synchronised .grad, the others' .grad is
//     dropped.
//   (optional) clip_grad_norm(max_norm): the global norm from the owned
//     shards (GradLayout::zero1_owned), then clipping of the owned gradients.
//   step(lr): the ordinary optimizer (optim::make_optimizer over the owned
//     parameters only) updates the owned parameters, then the parameters are
//     all-gathered from their owners through the same padded layout.
// On the CPU the parameters end bitwise where GradSync + the unsharded
// optimizer would take them whenever the two reductions sum in the same order
// (the optimizers are per parameter).
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "comm/communicator.h"
#include "optim/optimizer.h"
#include "parallel/grad_sync.h"
#include "parallel/mesh.h"

namespace moe::parallel {

// The group a class's optimizer state is sharded over: dp, dp or edp.
comm::Communicator& zero1_shard_group(Mesh& mesh, ParamClass cls);

// The owner (rank in its shard group) of every parameter; dp_size and
// edp_size are the shard groups' sizes.
std::vector<int> plan_zero1_owners(const std::vector<ClassedParam>& params, int dp_size, int edp_size);

class Zero1 {
 public:
  // Collective over world, dp and edp (the layout check). Parameters must be
  // contiguous f32 CPU tensors.
  Zero1(Mesh& mesh, std::vector<ClassedParam> params, const config::OptimizerConfig& cfg);
  Zero1(const Zero1&) = delete;
  Zero1& operator=(const Zero1&) = delete;

  // Collective over tp (replicated, when TP > 1), dp and edp. A parameter
  // without a gradient contributes zeros.
  void reduce_gradients();
  // After reduce_gradients(): the global gradient norm (collective over the
  // world), and clipping by it as optim::clip_grad_norm does.
  double grad_norm();
  double clip_grad_norm(double max_norm);
  // The owners' optimizer step, then the all-gather of every parameter.
  // Collective over dp and edp.
  void step(double lr);
  // Drops every parameter's gradient.
  void zero_grad();

  const std::vector<ClassedParam>& params() const { return params_; }
  // Owner of params()[i], as a rank of zero1_shard_group(params()[i].cls).
  int owner(size_t i) const { return owners_[i]; }
  bool owns(size_t i) const;
  // Indices into params() of the parameters this rank owns, registration order.
  const std::vector<size_t>& owned() const { return owned_; }

  // The optimizer over the owned parameters (never null; it may have none).
  optim::Optimizer& local_optimizer() { return *opt_; }
  // This rank's shard of the optimizer state ("<param>.<kind>", live tensors)
  // and its restore (the state of the same owned parameters).
  optim::NamedTensors state() const { return opt_->state(); }
  absl::Status load_state(const optim::NamedTensors& saved) { return opt_->load_state(saved); }

 private:
  // One flat buffer per class, laid out by owner.
  struct Layout {
    ParamClass cls;
    std::vector<std::vector<size_t>> segments;  // per group rank: parameter indices
    int64_t segment_numel = 0;                  // the longest segment (padding target)
  };
  template <typename Fn>
  void for_each_in_segment(const Layout& l, int r, Fn fn) const;

  Mesh& mesh_;
  std::vector<ClassedParam> params_;
  std::vector<int> owners_;
  std::vector<size_t> owned_;
  std::vector<Layout> layouts_;
  std::unique_ptr<optim::Optimizer> opt_;
};

}  // namespace moe::parallel
