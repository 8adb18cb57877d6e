// load_tensor: this rank's slice in the new layout from whatever slices the
// checkpoint holds (resharding is copying box intersections).
#include "absl/strings/str_cat.h"
#include "checkpoint/checkpoint.h"
#include "checkpoint/region.h"
#include "checkpoint/slice_file.h"
#include "core/autograd.h"
#include "core/ops.h"

namespace moe::checkpoint {

const TensorRecord* find_tensor(const CheckpointMeta& meta, const std::string& name) {
  for (const TensorRecord& t : meta.tensors())
    if (t.name() == name) return &t;
  return nullptr;
}

absl::Status load_tensor(const std::string& step_dir, const CheckpointMeta& meta, const std::string& name,
                         const parallel::ShardSpec& want, Tensor& into) {
  const TensorRecord* t = find_tensor(meta, name);
  if (!t) return absl::NotFoundError(absl::StrCat(name, ": not in checkpoint ", step_dir));
  if (!into.defined()) return absl::InvalidArgumentError(absl::StrCat(name, ": destination tensor is undefined"));
  if (!into.device().is_cpu()) {
    // Read on the host, then one copy to the device (the covered check
    // below makes every element of the staging tensor a loaded one).
    Tensor host = empty(into.shape(), into.dtype());
    if (absl::Status s = load_tensor(step_dir, meta, name, want, host); !s.ok()) return s;
    try {
      NoGradGuard no_grad;
      copy_(into, to_device(host, into.device()));
    } catch (const std::exception& e) {
      return absl::InternalError(absl::StrCat(name, ": cannot copy into ", into.str(), ": ", e.what()));
    }
    return absl::OkStatus();
  }
  const Shape saved = global_shape_of(*t);
  const Shape model = want.global_shape(into.shape());
  if (saved != model)
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": checkpoint global shape ", shape_str(saved), ", model ", shape_str(model)));
  if (t->dtype() != dtype_name(into.dtype()))
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": checkpoint dtype ", t->dtype(), ", model ", dtype_name(into.dtype())));
  absl::StatusOr<Box> target = slice_box(saved, want.dim, want.index, want.count, name);
  if (!target.ok()) return target.status();
  int64_t covered = 0;
  for (const SliceRecord& s : t->slices()) {
    absl::StatusOr<Box> have = slice_box(saved, s.dim(), s.index(), s.count(), name);
    if (!have.ok()) return absl::DataLossError(absl::StrCat(step_dir, "/", s.file(), ": ", have.status().message()));
    const std::optional<Box> part = intersect(*have, *target);
    if (!part) continue;
    // The whole slice is read so that its checksum can be checked.
    absl::StatusOr<Tensor> data = read_slice(step_dir, *t, s, recorded_file_bytes(meta, s.file()), true);
    if (!data.ok()) return data.status();
    try {
      copy_box(into, *target, *data, *have, *part);
    } catch (const std::exception& e) {
      return absl::InternalError(absl::StrCat(name, ": cannot copy into the destination: ", e.what()));
    }
    covered += part->numel();
  }
  if (covered != target->numel())
    return absl::DataLossError(absl::StrCat(name, ": the saved slices cover ", covered, " of the ", target->numel(),
                                            " elements wanted (checkpoint ", step_dir, " is incomplete)"));
  return absl::OkStatus();
}

}  // namespace moe::checkpoint
