#pragma once
// How a parameter is laid out over the mesh, and therefore how its gradient
// is synchronised (parallel/grad_sync.h) and how checkpoints slice it.
//
// Gradient rule (every class: sum over a group, then divide by DP, because
// the global loss is the mean of the DP replicas' losses):
//   replicated: identical values on every rank; with TP > 1 each TP rank
//     holds only part of the gradient (sequence-parallel tokens, or its own
//     heads' share), so: sum over world, / DP.
//   tp_sharded: a TP rank's own slice (column/row-parallel weights,
//     vocab-parallel embedding): sum over DP, / DP.
//   expert: an EP rank's own experts; each receives the tokens of the whole
//     EP group: sum over EDP, / DP.
#include <cstdint>

#include "core/tensor.h"

namespace moe::parallel {

enum class ParamClass { replicated, tp_sharded, expert };
const char* param_class_name(ParamClass c);

struct ShardSpec {
  ParamClass cls = ParamClass::replicated;
  int dim = -1;     // sharded dimension of the global tensor (-1: not sharded)
  int index = 0;    // this rank's slice
  int count = 1;    // number of slices
  // The global shape of a parameter whose local shape is `local`.
  Shape global_shape(const Shape& local) const {
    Shape g = local;
    if (dim >= 0) g[size_t(dim)] *= count;
    return g;
  }
};

}  // namespace moe::parallel
