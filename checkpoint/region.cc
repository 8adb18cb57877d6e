#include "checkpoint/region.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "core/autograd.h"
#include "core/ops.h"

namespace moe::checkpoint {

Shape global_shape_of(const TensorRecord& t) { return Shape(t.global_shape().begin(), t.global_shape().end()); }

absl::StatusOr<Box> slice_box(const Shape& global, int dim, int index, int count, const std::string& what) {
  Box b{Shape(global.size(), 0), global};
  if (dim < 0) {
    if (count != 1 || index != 0)
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": unsharded slice with index ", index, " of ", count));
    return b;
  }
  if (size_t(dim) >= global.size() || count < 1 || index < 0 || index >= count)
    return absl::InvalidArgumentError(absl::StrCat(what, ": slice ", index, " of ", count, " along dim ", dim,
                                                   " does not fit global shape ", shape_str(global)));
  if (global[size_t(dim)] % count != 0)
    return absl::InvalidArgumentError(absl::StrCat(what, ": dim ", dim, " of global shape ", shape_str(global),
                                                   " does not divide into ", count, " slices"));
  const int64_t len = global[size_t(dim)] / count;
  b.start[size_t(dim)] = index * len;
  b.size[size_t(dim)] = len;
  return b;
}

std::optional<Box> intersect(const Box& a, const Box& b) {
  Box r{a.start, a.size};
  for (size_t d = 0; d < a.start.size(); ++d) {
    const int64_t lo = std::max(a.start[d], b.start[d]);
    const int64_t hi = std::min(a.start[d] + a.size[d], b.start[d] + b.size[d]);
    if (hi <= lo) return std::nullopt;
    r.start[d] = lo;
    r.size[d] = hi - lo;
  }
  return r;
}

void copy_box(const Tensor& dst, const Box& db, const Tensor& src, const Box& sb, const Box& part) {
  NoGradGuard no_grad;
  Tensor d = dst.detach(), s = src.detach();
  for (size_t k = 0; k < part.start.size(); ++k) {
    d = d.narrow(int64_t(k), part.start[k] - db.start[k], part.size[k]);
    s = s.narrow(int64_t(k), part.start[k] - sb.start[k], part.size[k]);
  }
  copy_(d, s);
}

absl::Status check_tiling(const TensorRecord& t) {
  const Shape g = global_shape_of(t);
  if (t.slices().empty()) return absl::InvalidArgumentError(absl::StrCat(t.name(), ": no rank wrote it"));
  std::vector<Box> boxes;
  int64_t covered = 0;
  for (const SliceRecord& s : t.slices()) {
    absl::StatusOr<Box> b = slice_box(g, s.dim(), s.index(), s.count(), t.name());
    if (!b.ok()) return b.status();
    for (size_t j = 0; j < boxes.size(); ++j)
      if (intersect(boxes[j], *b))
        return absl::InvalidArgumentError(absl::StrCat(
            t.name(), ": ranks ", t.slices(int(j)).rank(), " and ", s.rank(),
            " both wrote overlapping slices (", t.slices(int(j)).index(), "/", t.slices(int(j)).count(), " and ",
            s.index(), "/", s.count(), "); mark exactly one writer per slice"));
    covered += b->numel();
    boxes.push_back(*b);
  }
  if (covered != shape_numel(g))
    return absl::InvalidArgumentError(absl::StrCat(t.name(), ": the written slices cover ", covered, " of ",
                                                   shape_numel(g), " elements of global shape ", shape_str(g),
                                                   "; some slice has no writer"));
  return absl::OkStatus();
}

}  // namespace moe::checkpoint
