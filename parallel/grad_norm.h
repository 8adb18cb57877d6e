#pragma once
// The global gradient norm over the mesh, counting every distinct gradient
// element once, and clipping by it.
//
// After GradSync::finish() DP replicas hold identical gradients, so nothing
// is summed over DP: replicated gradients are counted once (they are the same
// on every rank), tp_sharded slices are distinct across TP (summed over one
// TP group), expert slices are distinct across EP (summed over one EP group).
// After Zero1::reduce_gradients() each rank holds the gradients of the
// parameters it owns: its group's ranks hold disjoint parts, so tp_sharded
// and expert parts are summed over every rank, replicated parts over the
// ranks of one TP slice (TP ranks own identical copies).
//
// Every rank gets bitwise the same norm: the per-rank per-class sums are
// all-gathered over the world and combined in rank order on every rank.
#include <vector>

#include "parallel/grad_sync.h"
#include "parallel/mesh.h"

namespace moe::parallel {

// Where the synchronised gradients are.
enum class GradLayout {
  replicas,     // every rank holds its group's full gradients (GradSync)
  zero1_owned,  // each rank holds only the gradients of the parameters it owns
};

// This rank's sum of squared gradients per class (optim::grad_sq_norm over
// each class's parameters; those without a gradient count as zero).
struct ClassSqNorms {
  double replicated = 0, tp_sharded = 0, expert = 0;
};
ClassSqNorms local_sq_norms(const std::vector<ClassedParam>& params);

// Collective over the world.
double global_grad_norm(Mesh& mesh, const ClassSqNorms& local, GradLayout layout);
double global_grad_norm(Mesh& mesh, const std::vector<ClassedParam>& params,
                        GradLayout layout = GradLayout::replicas);

// optim::clip_grad_norm over the mesh: returns the global norm before
// clipping; when it is finite and exceeds max_norm (> 0), scales this rank's
// gradients of `params` by max_norm / (norm + 1e-6) (optim::scale_grads). A
// non-finite norm is returned as is and nothing is scaled.
double clip_global_grad_norm(Mesh& mesh, const std::vector<ClassedParam>& params, double max_norm,
                             GradLayout layout = GradLayout::replicas);

}  // namespace moe::parallel
