// Elementwise ops with broadcasting; each backward is written beside its forward.
#include "core/backend/elementwise.h"
#include "core/ops/op_utils.h"

namespace moe {

namespace {

using math::Binary;
using math::Unary;
std::vector<Tensor> one(Tensor t) { return {std::move(t)}; }

// Runs a unary kernel in the compute dtype and rounds back to x's dtype.
Tensor unary_raw(Unary op, const Tensor& x, double p, const char* name) {
  check_defined(name, x);
  check_floating(name, x);
  Tensor xc = to_compute(x);
  Tensor out = empty(x.shape(), xc.dtype(), x.device());
  backend::unary(op, xc, p, out);
  return from_compute(out, x.dtype());
}

Tensor binary_raw(Binary op, const Tensor& a, const Tensor& b, const char* name, bool boolean_out) {
  check_defined(name, a);
  check_defined(name, b);
  check_same_dtype(name, a, b);
  check_same_device(name, a, b);
  const Shape shape = broadcast_shapes(a.shape(), b.shape(), name);
  const bool narrow = is_low_precision(a.dtype());
  Tensor ac = narrow ? to_compute(a) : a, bc = narrow ? to_compute(b) : b;
  Tensor out = empty(shape, boolean_out ? DType::b8 : ac.dtype(), a.device());
  backend::binary(op, ac, bc, out);
  return boolean_out ? out : from_compute(out, a.dtype());
}

// y = f(x) whose gradient is g * f'(x) with f' given as another unary op.
Tensor unary_with_derivative(Unary op, Unary deriv, const Tensor& x, const char* name) {
  Tensor out = unary_raw(op, x, 0.0, name);
  if (needs_grad({x})) {
    SavedTensor sx(x, name);
    attach_grad_fn(name, {out}, {x}, [sx, deriv, name](std::vector<Tensor>& g) {
      return one(mul(g[0], unary_raw(deriv, sx.get(), 0.0, name)));
    });
  }
  return out;
}

}  // namespace

Tensor add(const Tensor& a, const Tensor& b) {
  Tensor out = binary_raw(Binary::add, a, b, "add", false);
  if (needs_grad({a, b})) {
    Shape sa = a.shape(), sb = b.shape();
    attach_grad_fn("add", {out}, {a, b}, [sa, sb](std::vector<Tensor>& g) {
      return std::vector<Tensor>{sum_to(g[0], sa), sum_to(g[0], sb)};
    });
  }
  return out;
}

Tensor sub(const Tensor& a, const Tensor& b) {
  Tensor out = binary_raw(Binary::sub, a, b, "sub", false);
  if (needs_grad({a, b})) {
    Shape sa = a.shape(), sb = b.shape();
    attach_grad_fn("sub", {out}, {a, b}, [sa, sb](std::vector<Tensor>& g) {
      return std::vector<Tensor>{sum_to(g[0], sa), sum_to(neg(g[0]), sb)};
    });
  }
  return out;
}

Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor out = binary_raw(Binary::mul, a, b, "mul", false);
  if (needs_grad({a, b})) {
    SavedTensor sa(a, "mul"), sb(b, "mul");
    attach_grad_fn("mul", {out}, {a, b}, [sa, sb](std::vector<Tensor>& g) {
      Tensor a = sa.get(), b = sb.get();
      return std::vector<Tensor>{sum_to(mul(g[0], b), a.shape()), sum_to(mul(g[0], a), b.shape())};
    });
  }
  return out;
}

Tensor div(const Tensor& a, const Tensor& b) {
  Tensor out = binary_raw(Binary::div, a, b, "div", false);
  if (needs_grad({a, b})) {
    SavedTensor sa(a, "div"), sb(b, "div");
    attach_grad_fn("div", {out}, {a, b}, [sa, sb](std::vector<Tensor>& g) {
      Tensor a = sa.get(), b = sb.get();
      Tensor ga = div(g[0], b);
      // d(a/b)/db = -a/b^2 = -(g/b) * a / b
      Tensor gb = neg(div(mul(ga, a), b));
      return std::vector<Tensor>{sum_to(ga, a.shape()), sum_to(gb, b.shape())};
    });
  }
  return out;
}

Tensor add(const Tensor& a, double b) {
  Tensor out = unary_raw(Unary::add_scalar, a, b, "add");
  if (needs_grad({a})) attach_grad_fn("add", {out}, {a}, [](std::vector<Tensor>& g) { return g; });
  return out;
}

Tensor mul(const Tensor& a, double b) {
  Tensor out = unary_raw(Unary::mul_scalar, a, b, "mul");
  if (needs_grad({a}))
    attach_grad_fn("mul", {out}, {a}, [b](std::vector<Tensor>& g) { return one(mul(g[0], b)); });
  return out;
}

Tensor neg(const Tensor& x) {
  Tensor out = unary_raw(Unary::neg, x, 0.0, "neg");
  if (needs_grad({x})) attach_grad_fn("neg", {out}, {x}, [](std::vector<Tensor>& g) { return one(neg(g[0])); });
  return out;
}

Tensor exp(const Tensor& x) {
  Tensor out = unary_raw(Unary::exp, x, 0.0, "exp");
  if (needs_grad({x})) {
    SavedTensor so(out, "exp");
    attach_grad_fn("exp", {out}, {x}, [so](std::vector<Tensor>& g) { return one(mul(g[0], so.get())); });
  }
  return out;
}

Tensor log(const Tensor& x) {
  Tensor out = unary_raw(Unary::log, x, 0.0, "log");
  if (needs_grad({x})) {
    SavedTensor sx(x, "log");
    attach_grad_fn("log", {out}, {x}, [sx](std::vector<Tensor>& g) { return one(div(g[0], sx.get())); });
  }
  return out;
}

Tensor sqrt(const Tensor& x) {
  Tensor out = unary_raw(Unary::sqrt, x, 0.0, "sqrt");
  if (needs_grad({x})) {
    SavedTensor so(out, "sqrt");
    attach_grad_fn("sqrt", {out}, {x},
                   [so](std::vector<Tensor>& g) { return one(div(mul(g[0], 0.5), so.get())); });
  }
  return out;
}

Tensor rsqrt(const Tensor& x) {
  Tensor out = unary_raw(Unary::rsqrt, x, 0.0, "rsqrt");
  if (needs_grad({x})) {
    SavedTensor so(out, "rsqrt");
    // d x^-1/2 = -1/2 x^-3/2 = -1/2 y^3
    attach_grad_fn("rsqrt", {out}, {x}, [so](std::vector<Tensor>& g) {
      Tensor y = so.get();
      return one(mul(g[0], mul(pow(y, 3.0), -0.5)));
    });
  }
  return out;
}

Tensor pow(const Tensor& x, double exponent) {
  Tensor out = unary_raw(Unary::pow, x, exponent, "pow");
  if (needs_grad({x})) {
    SavedTensor sx(x, "pow");
    attach_grad_fn("pow", {out}, {x}, [sx, exponent](std::vector<Tensor>& g) {
      return one(mul(g[0], mul(pow(sx.get(), exponent - 1.0), exponent)));
    });
  }
  return out;
}

Tensor silu(const Tensor& x) { return unary_with_derivative(Unary::silu, Unary::dsilu, x, "silu"); }
Tensor gelu(const Tensor& x) { return unary_with_derivative(Unary::gelu, Unary::dgelu, x, "gelu"); }

Tensor swiglu(const Tensor& gate, const Tensor& up) {
  const char* name = "swiglu";
  check_float_operands(name, gate, up);
  MOE_CHECK(gate.shape() == up.shape(), name, ": gate ", gate.str(), " and up ", up.str(), " need one shape");
  const Tensor a = contiguous(to_compute(gate)), b = contiguous(to_compute(up));
  Tensor out = empty(gate.shape(), a.dtype(), gate.device());
  backend::swiglu(a, b, out);
  out = from_compute(out, gate.dtype());
  if (needs_grad({gate, up})) {
    SavedTensor sa(gate, name), sb(up, name);
    attach_grad_fn(name, {out}, {gate, up}, [sa, sb](std::vector<Tensor>& g) {
      const Tensor a = contiguous(to_compute(sa.get())), b = contiguous(to_compute(sb.get()));
      const Tensor gc = contiguous(to_compute(g[0]));
      Tensor da = empty(a.shape(), a.dtype(), a.device()), db = empty(b.shape(), b.dtype(), b.device());
      backend::swiglu_backward(gc, a, b, da, db);
      return std::vector<Tensor>{from_compute(da, sa.get().dtype()), from_compute(db, sb.get().dtype())};
    });
  }
  return out;
}
Tensor relu(const Tensor& x) { return unary_with_derivative(Unary::relu, Unary::step, x, "relu"); }
Tensor abs(const Tensor& x) { return unary_with_derivative(Unary::abs, Unary::sign, x, "abs"); }

Tensor sigmoid(const Tensor& x) {
  Tensor out = unary_raw(Unary::sigmoid, x, 0.0, "sigmoid");
  if (needs_grad({x})) {
    SavedTensor so(out, "sigmoid");
    attach_grad_fn("sigmoid", {out}, {x}, [so](std::vector<Tensor>& g) {
      Tensor y = so.get();
      return one(mul(g[0], mul(y, add(neg(y), 1.0))));
    });
  }
  return out;
}

Tensor tanh(const Tensor& x) {
  Tensor out = unary_raw(Unary::tanh, x, 0.0, "tanh");
  if (needs_grad({x})) {
    SavedTensor so(out, "tanh");
    attach_grad_fn("tanh", {out}, {x}, [so](std::vector<Tensor>& g) {
      Tensor y = so.get();
      return one(mul(g[0], add(neg(mul(y, y)), 1.0)));
    });
  }
  return out;
}

Tensor eq(const Tensor& a, const Tensor& b) { return binary_raw(Binary::eq, a, b, "eq", true); }
Tensor lt(const Tensor& a, const Tensor& b) { return binary_raw(Binary::lt, a, b, "lt", true); }
Tensor gt(const Tensor& a, const Tensor& b) { return binary_raw(Binary::gt, a, b, "gt", true); }

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  check_defined("where", cond);
  check_defined("where", a);
  check_defined("where", b);
  MOE_CHECK(cond.dtype() == DType::b8, "where: condition must be bool, got ", cond.str());
  check_same_dtype("where", a, b);
  check_same_device("where", a, b);
  check_same_device("where", cond, a);
  const Shape shape = broadcast_shapes(cond.shape(), broadcast_shapes(a.shape(), b.shape(), "where"), "where");
  const bool narrow = is_low_precision(a.dtype());
  Tensor ac = narrow ? to_compute(a) : a, bc = narrow ? to_compute(b) : b;
  Tensor out = empty(shape, ac.dtype(), a.device());
  backend::where(cond, ac, bc, out);
  out = from_compute(out, a.dtype());
  if (needs_grad({a, b})) {
    SavedTensor sc(cond, "where");
    Shape sa = a.shape(), sb = b.shape();
    attach_grad_fn("where", {out}, {a, b}, [sc, sa, sb](std::vector<Tensor>& g) {
      Tensor c = sc.get();
      Tensor z = zeros({}, g[0].dtype(), g[0].device());
      return std::vector<Tensor>{sum_to(where(c, g[0], z), sa), sum_to(where(c, z, g[0]), sb)};
    });
  }
  return out;
}

Tensor masked_fill(const Tensor& x, const Tensor& mask, double value) {
  check_defined("masked_fill", x);
  check_defined("masked_fill", mask);
  check_same_device("masked_fill", x, mask);
  MOE_CHECK(broadcast_shapes(x.shape(), mask.shape(), "masked_fill") == x.shape(), "masked_fill: mask ",
            shape_str(mask.shape()), " does not broadcast to ", shape_str(x.shape()));
  return where(mask, scalar_tensor(value, x.dtype(), x.device()), x);
}

}  // namespace moe
