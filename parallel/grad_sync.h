#pragma once
// GradSync: data-parallel gradient synchronisation by parameter class
// (parallel/sharding.h): replicated gradients are summed over the world,
// tp_sharded over DP, expert over EDP, then every class is divided by DP.
//
// Parameters are packed into buckets (per class and dtype, in reverse
// registration order, which is roughly the order backward finishes them).
// Two modes:
// - overlap (default): a post-accumulate hook on every parameter marks it
//   ready; a bucket whose parameters are all ready is flattened and its
//   all-reduce starts at once, while backward goes on. Buckets start strictly
//   in bucket order (a bucket waits for the ones before it), so every rank
//   issues the same collectives in the same order whatever order its
//   gradients arrive in.
// - finish-only: no hooks; finish() flattens and reduces every bucket.
// With gradient accumulation, call set_sync_enabled(false) before every
// micro-batch but the last: the hooks then do nothing and communication
// happens once per step. finish() always completes the synchronisation: it
// starts the buckets not started yet (a parameter that got no gradient in
// this step counts as zeros) and waits for all of them.
//
// All ranks of a group must register the same parameters (names, shapes,
// dtypes) of that group's classes in the same order; the constructor checks
// this (collective over world, dp and edp) and names the first mismatch.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "comm/communicator.h"
#include "core/tensor.h"
#include "parallel/mesh.h"
#include "parallel/sharding.h"

namespace moe::parallel {

// A trainable parameter with its layout class.
struct ClassedParam {
  std::string name;
  Tensor param;
  ParamClass cls = ParamClass::replicated;
};

// The group a class's gradients are summed over (world, dp or edp).
comm::Communicator& grad_sum_group(Mesh& mesh, ParamClass cls);

// Checks that every rank of each class's group (grad_sum_group) holds the
// same parameters of that class (names, shapes, dtypes, order); throws on
// every rank, naming the group, the ranks and the first differing parameter.
// Collective over world, dp and edp, in that order. `who` prefixes the error.
void check_same_params_in_groups(Mesh& mesh, const std::vector<ClassedParam>& params, const char* who);

struct GradBucket {
  ParamClass cls = ParamClass::replicated;
  DType dtype = DType::f32;
  std::vector<size_t> params;   // indices into the registration list, bucket order
  std::vector<int64_t> offsets; // element offset of each parameter in the flat buffer
  int64_t numel = 0;
};

// Pure bucketing: walks `params` from last to first; each (class, dtype) has
// an open bucket that takes parameters until adding one would exceed
// `bucket_bytes` (a parameter larger than that gets a bucket of its own).
// Buckets are ordered by when they were opened.
std::vector<GradBucket> plan_grad_buckets(const std::vector<ClassedParam>& params, int64_t bucket_bytes);

struct GradSyncOptions {
  int64_t bucket_bytes = int64_t(16) << 20;
  bool overlap = true;  // false: finish-only mode (no hooks)
};

class GradSync {
 public:
  // Collective over world, dp and edp (the layout check).
  GradSync(Mesh& mesh, std::vector<ClassedParam> params, GradSyncOptions options = {});
  ~GradSync();  // removes the hooks
  GradSync(const GradSync&) = delete;
  GradSync& operator=(const GradSync&) = delete;

  // Whether this backward's hooks start buckets (overlap mode only). Turn it
  // off for every micro-batch but the last of a step.
  void set_sync_enabled(bool enabled);
  bool sync_enabled() const;

  // Completes the synchronisation of this step: afterwards every parameter's
  // .grad holds its synchronised gradient (bitwise the same on every rank of
  // its group), including parameters that got none (zeros). Resets the
  // per-step state; the next step starts with sync enabled.
  void finish();

  const std::vector<ClassedParam>& params() const;
  const std::vector<GradBucket>& buckets() const;
  // Buckets whose all-reduce has been started in the current step.
  int64_t buckets_started() const;

 private:
  struct State;
  std::shared_ptr<State> state_;  // hooks hold a weak_ptr to it
  std::vector<uint64_t> hook_handles_;
};

// Sums the router's per-expert selection counts (the aux-loss-free bias
// update's load) over every rank, so each rank updates its biases from the
// global batch's load and the replicated biases stay identical.
std::vector<double> all_reduce_load_counts(Mesh& mesh, std::vector<double> counts);

}  // namespace moe::parallel
