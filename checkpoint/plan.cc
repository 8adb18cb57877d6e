#include "checkpoint/plan.h"

#include <map>

#include "absl/strings/str_cat.h"

namespace moe::checkpoint {
namespace {

using parallel::ParamClass;
using parallel::ShardSpec;

// "<param>.<kind>": the kind has no dots, parameter names do.
const ParamShard* param_of(const std::string& state_name, const std::vector<ParamShard>& params) {
  const size_t dot = state_name.rfind('.');
  if (dot == std::string::npos) return nullptr;
  const std::string pname = state_name.substr(0, dot);
  for (const ParamShard& p : params)
    if (p.name == pname) return &p;
  return nullptr;
}

}  // namespace

Place Place::of(const parallel::Mesh* mesh) {
  if (!mesh) return {};
  return {mesh->rank(), mesh->tp_rank(), mesh->dp_rank(), mesh->ep_rank(), mesh->edp_rank()};
}

bool writes_model_tensor(const ShardSpec& s, const Place& p) {
  if (s.dim < 0) {
    // Unsharded expert parameters (EP 1) and replicated ones: one copy.
    return p.rank == 0;
  }
  switch (s.cls) {
    case ParamClass::tp_sharded: return p.dp_rank == 0;
    case ParamClass::expert: return p.edp_rank == 0;
    case ParamClass::replicated: return p.rank == 0;
  }
  return false;
}

absl::StatusOr<ShardSpec> state_shard(const std::string& state_name, const Tensor& t,
                                      const std::vector<ParamShard>& params) {
  const ParamShard* p = param_of(state_name, params);
  if (!p) return absl::InvalidArgumentError(absl::StrCat(state_name, ": optimizer state of an unknown parameter"));
  if (p->shard.dim >= 0 && t.shape() == p->local_shape) return p->shard;
  ShardSpec whole;
  whole.cls = p->shard.cls;
  return whole;
}

absl::StatusOr<std::vector<SaveTensor>> state_save_tensors(const NamedTensorList& state,
                                                           const std::vector<ParamShard>& params, const Place& pl,
                                                           bool zero1) {
  std::vector<SaveTensor> out;
  for (const auto& [name, t] : state) {
    absl::StatusOr<ShardSpec> s = state_shard(name, t, params);
    if (!s.ok()) return s.status();
    const ParamShard& p = *param_of(name, params);
    bool write;
    if (s->dim >= 0) write = zero1 ? true : writes_model_tensor(*s, pl);
    else if (!zero1) write = pl.rank == 0;
    else if (p.shard.dim >= 0) write = p.shard.index == 0;
    else if (p.shard.cls == ParamClass::expert) write = true;  // EP 1: the edp group is the world, one owner
    else write = pl.tp_rank == 0;
    out.push_back({name, t, *s, write});
  }
  return out;
}

absl::Status load_state_tensors(const std::string& step_dir, const CheckpointMeta& meta, const NamedTensorList& state,
                                const std::vector<ParamShard>& params) {
  for (const auto& [name, t] : state) {
    absl::StatusOr<ShardSpec> s = state_shard(name, t, params);
    if (!s.ok()) return s.status();
    Tensor into = t;
    if (absl::Status st = load_tensor(step_dir, meta, name, *s, into); !st.ok()) return st;
  }
  return absl::OkStatus();
}

}  // namespace moe::checkpoint
