#pragma once
// Approximate orthogonalisation (the "zeroth power" U V^T of M = U S V^T) by
// Keller Jordan's quintic Newton-Schulz iteration, as used by Muon:
//   X = M / (||M||_F + 1e-7)            (per matrix)
//   repeat steps times: A = X X^T; B = b A + c A A; X = a X + B X
// with (a, b, c) = (3.4445, -4.7750, 2.0315). A tall matrix (rows > cols) is
// iterated transposed so that X X^T is the smaller Gram matrix. The quintic
// trades exactness for speed: singular values end up in [0.68, 1.21] (the
// interval between f's local minimum f(1.0501) = 0.6817 and local maximum
// f(0.5545) = 1.2023 maps into itself), not at 1. Computed in f32 with the core matmul (Keller's reference uses
// bf16).
#include <cstdint>

#include "core/tensor.h"

namespace moe::optim {

inline constexpr double kNsA = 3.4445, kNsB = -4.7750, kNsC = 2.0315;

// m: f32 [R, C], or [E, R, C] for a stack of E matrices each orthogonalised
// on its own. Returns a new contiguous tensor of m's shape. No autograd.
Tensor newton_schulz(const Tensor& m, int64_t steps);

}  // namespace moe::optim
