#pragma once
// Global gradient-norm clipping over all parameters (torch.nn.utils.
// clip_grad_norm_ with the L2 norm). Parameters without a gradient are
// skipped. Gradients must be f32 on the CPU.
#include <vector>

#include "core/tensor.h"

namespace moe::optim {

// Sum over all parameters of the squared L2 norms of their gradients, in f64,
// parameter by parameter in the order given (each by sum_squares): the same
// value for any thread count. Distributed callers all-reduce this before the
// square root.
double grad_sq_norm(const std::vector<Tensor>& params);

// Multiplies every defined gradient by `factor` in place (a gradient that is
// not contiguous is replaced by a scaled contiguous copy instead).
void scale_grads(const std::vector<Tensor>& params, double factor);

// The factor clipping applies for a gradient norm: max_norm / (norm + 1e-6)
// when max_norm > 0 and a finite norm exceeds it, else 1 (no clipping).
double clip_factor(double norm, double max_norm);

// Returns the total L2 norm of the gradients before clipping. When it exceeds
// max_norm (> 0), scales every gradient by max_norm / (norm + 1e-6). A
// non-finite norm is returned as is and nothing is scaled: the caller should
// skip the step.
double clip_grad_norm(const std::vector<Tensor>& params, double max_norm);

}  // namespace moe::optim
