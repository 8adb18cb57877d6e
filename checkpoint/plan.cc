#include "checkpoint/plan.h"

#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"
#include "checkpoint/slice_file.h"
#include "core/autograd.h"
#include "core/ops.h"

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
  return {mesh->rank(),         mesh->tp_rank(),      mesh->dp_rank(),       mesh->ep_rank(),
          mesh->edp_rank(),     mesh->sizes().world,  mesh->sizes().dp(),    mesh->sizes().edp()};
}

void assign_writers(std::vector<SaveTensor>& tensors, const Place& p) {
  // Holders of one slice: whole tensors (replicated, or experts at EP 1) are
  // on every rank; a tp_sharded slice on its DP group; an expert slice on
  // its EDP group. Loads are kept per kind of group: the lists a DP group
  // (or EDP group) sees are the same on its members, so every member makes
  // the same choices.
  enum Kind { whole, dp_group, edp_group };
  std::vector<int64_t> load[3] = {std::vector<int64_t>(size_t(p.world)), std::vector<int64_t>(size_t(p.dp)),
                                  std::vector<int64_t>(size_t(p.edp))};
  const int me[3] = {p.rank, p.dp_rank, p.edp_rank};
  for (SaveTensor& t : tensors) {
    const Kind k = t.shard.dim < 0                           ? whole
                   : t.shard.cls == ParamClass::tp_sharded ? dp_group
                   : t.shard.cls == ParamClass::expert     ? edp_group
                                                           : whole;
    std::vector<int64_t>& l = load[k];
    const size_t w = size_t(std::min_element(l.begin(), l.end()) - l.begin());
    l[w] += t.local.numel() * int64_t(dtype_size(t.local.dtype()));
    t.write = int(w) == me[k];
  }
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
    bool write = false;  // without ZeRO-1: assign_writers below
    if (!zero1) {
    } else if (s->dim >= 0) {
      write = true;  // the owner of this slice's state
    } else if (p.shard.dim >= 0) {
      write = p.shard.index == 0;
    } else if (p.shard.cls == ParamClass::expert) {
      write = true;  // EP 1: the edp group is the world, one owner
    } else {
      write = pl.tp_rank == 0;
    }
    out.push_back({name, t, *s, write});
  }
  if (!zero1) assign_writers(out, pl);
  return out;
}

absl::Status load_state_tensors(const std::string& step_dir, const CheckpointMeta& meta, const NamedTensorList& state,
                                const std::vector<ParamShard>& params) {
  for (const auto& [name, t] : state) {
    absl::StatusOr<ShardSpec> s = state_shard(name, t, params);
    if (!s.ok()) return s.status();
    // Moments saved in another float dtype (optim.moment_dtype changed) are
    // read as saved and converted: f32 -> bf16 rounds to nearest even,
    // bf16 -> f32 is exact.
    const TensorRecord* rec = find_tensor(meta, name);
    const absl::StatusOr<DType> saved = rec ? dtype_from_name(rec->dtype()) : t.dtype();
    const bool convert = saved.ok() && *saved != t.dtype() && is_floating(*saved) && is_floating(t.dtype());
    Tensor into = convert ? empty(t.shape(), *saved) : t;
    if (absl::Status st = load_tensor(step_dir, meta, name, *s, into); !st.ok()) return st;
    if (convert) {
      NoGradGuard no_grad;
      Tensor dst = t;
      copy_(dst, into);
    }
  }
  return absl::OkStatus();
}

}  // namespace moe::checkpoint
