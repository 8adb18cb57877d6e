#pragma once
// Boxes of a global tensor: a saved or wanted slice is slice `index` of
// `count` equal parts along `dim` (every other dimension whole), so any two
// slices intersect in a box, and resharding is copying intersections.
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "checkpoint/metadata.pb.h"
#include "core/tensor.h"

namespace moe::checkpoint {

struct Box {
  Shape start, size;  // per dimension, in global coordinates
  int64_t numel() const { return shape_numel(size); }
};

// The box of slice (dim, index, count) of a tensor of shape `global`
// (dim < 0: the whole tensor). `what` names the tensor in errors.
absl::StatusOr<Box> slice_box(const Shape& global, int dim, int index, int count, const std::string& what);
std::optional<Box> intersect(const Box& a, const Box& b);
// Copies `part` (inside both boxes) from src, which holds box sb, into dst,
// which holds box db. No autograd; any strides.
void copy_box(const Tensor& dst, const Box& db, const Tensor& src, const Box& sb, const Box& part);
// The slices of `t` are pairwise disjoint and cover its global shape; the
// error names the tensor and the writing ranks.
absl::Status check_tiling(const TensorRecord& t);
Shape global_shape_of(const TensorRecord& t);

}  // namespace moe::checkpoint
