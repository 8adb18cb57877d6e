#pragma once
// Who writes what: exactly one rank per distinct slice (save_checkpoint
// rejects duplicates and gaps), and how each tensor is sliced on load.
//
// Model parameters and buffers (every rank holds its slice): one writer per
// slice among the ranks holding the same slice -- the world for whole
// tensors, the DP group for tp_sharded slices, the EDP group for expert
// slices -- chosen so that every rank writes about as many bytes
// (assign_writers: greedy, largest load last, the same on every rank).
// Optimizer state "<param>.<kind>": a tensor with the parameter's local
// shape is sliced like the parameter; anything else (the i64 step counters)
// is saved whole, from slice 0's holder (counters are equal across slices).
//   Without ZeRO-1 every rank holds all state: writers balanced as for the
//   parameters.
//   With ZeRO-1 only owners hold state (Zero1::state()); one owner per
//   slice exists in each shard group, so: sliced state -> its owner;
//   replicated parameters' state (one owner per TP rank) -> the owner at
//   tp_rank 0; whole state of a sharded parameter -> the owner of slice 0.
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "checkpoint/checkpoint.h"
#include "parallel/mesh.h"

namespace moe::checkpoint {

struct Place {
  int rank = 0, tp_rank = 0, dp_rank = 0, ep_rank = 0, edp_rank = 0;
  int world = 1, dp = 1, edp = 1;               // group sizes
  static Place of(const parallel::Mesh* mesh);  // null: one rank
};

// Sets each tensor's write flag: of the ranks holding the same slice (see
// above), the one with the fewest bytes assigned so far, in list order
// (ties: lowest rank). Every rank must pass the same list (names, shapes).
void assign_writers(std::vector<SaveTensor>& tensors, const Place& p);

// A parameter as the optimizer-state rules need it.
struct ParamShard {
  std::string name;
  Shape local_shape;
  parallel::ShardSpec shard;
};
// From anything with .name, .tensor, .shard (model::Named).
template <typename Range>
std::vector<ParamShard> param_shards(const Range& named) {
  std::vector<ParamShard> out;
  for (const auto& n : named) out.push_back({n.name, n.tensor.shape(), n.shard});
  return out;
}
// Model parameters/buffers to save, write flags set.
template <typename Range>
std::vector<SaveTensor> model_save_tensors(const Range& named, const Place& p) {
  std::vector<SaveTensor> out;
  for (const auto& n : named) out.push_back({n.name, n.tensor, n.shard, false});
  assign_writers(out, p);
  return out;
}

using NamedTensorList = std::vector<std::pair<std::string, Tensor>>;  // = optim::NamedTensors

// The shard a state tensor is saved and loaded with; the error names a
// state tensor whose parameter is unknown.
absl::StatusOr<parallel::ShardSpec> state_shard(const std::string& state_name, const Tensor& t,
                                                const std::vector<ParamShard>& params);
// Optimizer state (Optimizer::state() or Zero1::state()) to save.
absl::StatusOr<std::vector<SaveTensor>> state_save_tensors(const NamedTensorList& state,
                                                           const std::vector<ParamShard>& params, const Place& p,
                                                           bool zero1);
// Loads every state tensor in place (live tensors from state()), each with
// state_shard(); errors name the tensor. A floating tensor saved in another
// floating dtype (the moments after a change of optim.moment_dtype) is
// converted (round to nearest even).
absl::Status load_state_tensors(const std::string& step_dir, const CheckpointMeta& meta, const NamedTensorList& state,
                                const std::vector<ParamShard>& params);

}  // namespace moe::checkpoint
