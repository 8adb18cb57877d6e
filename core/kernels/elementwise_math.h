#pragma once
// Per-element formulas shared by the CPU kernels and the CUDA kernels.
#include <cmath>

#include "core/hd.h"
#include "core/kernels/fast_exp.h"

namespace moe::math {

enum class Unary {
  neg, exp, log, sqrt, rsqrt, pow, silu, gelu, sigmoid, tanh, relu, abs,
  add_scalar, mul_scalar,
  dsilu,   // d silu(x)/dx
  dgelu,   // d gelu(x)/dx (erf form)
  step,    // 1 where x > 0 (relu derivative)
  sign,
};
enum class Binary { add, sub, mul, div, eq, lt, gt };

// Branch-free so that loops over it vectorise; exp(-x) overflowing to inf
// (x < -88 in f32) gives the correct limit 0.
template <typename T>
MOE_HD_INLINE T sigmoid(T x) {
  return T(1) / (T(1) + exp_t(-x));
}

// p: the op's scalar parameter (exponent of pow, operand of add/mul_scalar).
template <typename T>
MOE_HD_INLINE T unary(Unary op, T x, T p) {
  constexpr T kInvSqrt2 = T(0.70710678118654752440);
  constexpr T kInvSqrt2Pi = T(0.39894228040143267794);
  switch (op) {
    case Unary::neg: return -x;
    case Unary::exp: return exp_t(x);
    case Unary::log: return std::log(x);
    case Unary::sqrt: return std::sqrt(x);
    case Unary::rsqrt: return T(1) / std::sqrt(x);
    case Unary::pow: return std::pow(x, p);
    case Unary::silu: return x * sigmoid(x);
    case Unary::gelu: return T(0.5) * x * (T(1) + std::erf(x * kInvSqrt2));
    case Unary::sigmoid: return sigmoid(x);
    case Unary::tanh: return std::tanh(x);
    case Unary::relu: return x > T(0) ? x : T(0);
    case Unary::abs: return std::abs(x);
    case Unary::add_scalar: return x + p;
    case Unary::mul_scalar: return x * p;
    case Unary::dsilu: {
      const T s = sigmoid(x);
      return s * (T(1) + x * (T(1) - s));
    }
    case Unary::dgelu:
      return T(0.5) * (T(1) + std::erf(x * kInvSqrt2)) + x * kInvSqrt2Pi * std::exp(T(-0.5) * x * x);
    case Unary::step: return x > T(0) ? T(1) : T(0);
    case Unary::sign: return x > T(0) ? T(1) : (x < T(0) ? T(-1) : T(0));
  }
  return x;
}

template <typename T>
MOE_HD_INLINE T binary(Binary op, T a, T b) {
  switch (op) {
    case Binary::add: return a + b;
    case Binary::sub: return a - b;
    case Binary::mul: return a * b;
    case Binary::div: return a / b;
    case Binary::eq: return a == b ? T(1) : T(0);
    case Binary::lt: return a < b ? T(1) : T(0);
    case Binary::gt: return a > b ? T(1) : T(0);
  }
  return a;
}

// SwiGLU's product silu(gate) * up and its two gradients, with
// silu'(x) = s (1 + x (1 - s)), s = sigmoid(x), silu(x) = x s.
template <typename T>
MOE_HD_INLINE T swiglu(T gate, T up) {
  return unary(Unary::silu, gate, T(0)) * up;
}
template <typename T>
MOE_HD_INLINE void swiglu_grads(T g, T gate, T up, T& dgate, T& dup) {
  const T sg = sigmoid(gate);
  dgate = g * up * (sg * (T(1) + gate * (T(1) - sg)));
  dup = g * (gate * sg);
}

}  // namespace moe::math
