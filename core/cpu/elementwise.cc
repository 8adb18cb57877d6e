#include "core/cpu/elementwise.h"

#include "core/cpu/loops.h"
#include "core/dtype_switch.h"

namespace moe::cpu {

namespace {

// Instantiates the loop once per op so the switch in math::unary folds away
// and the contiguous loop vectorises.
template <math::Unary Op, typename T>
void unary_loop(const Tensor& x, T p, const Tensor& out) {
  T* o = out.data<T>();
  const T* in = x.data<T>();
  if (x.is_contiguous()) {
    parallel_for(x.numel(), 16384, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) o[i] = math::unary(Op, in[i], p);
    });
    return;
  }
  strided_loop<2>(x.shape(), {out.strides(), x.strides()},
                  [&](const std::array<int64_t, 2>& off, int64_t n, const std::array<int64_t, 2>& st) {
                    for (int64_t j = 0; j < n; ++j) o[off[0] + j] = math::unary(Op, in[off[1] + j * st[1]], p);
                  });
}

template <math::Binary Op, typename T, typename O>
void binary_loop(const Tensor& a, const Tensor& b, const Tensor& out) {
  O* o = out.data<O>();
  const T* pa = a.data<T>();
  const T* pb = b.data<T>();
  if (a.is_contiguous() && b.is_contiguous() && a.shape() == out.shape() && b.shape() == out.shape()) {
    parallel_for(out.numel(), 16384, [&](int64_t s, int64_t e) {
      for (int64_t i = s; i < e; ++i) o[i] = O(math::binary(Op, pa[i], pb[i]));
    });
    return;
  }
  strided_loop<3>(out.shape(), {out.strides(), broadcast_strides(a, out.shape()), broadcast_strides(b, out.shape())},
                  [&](const std::array<int64_t, 3>& off, int64_t n, const std::array<int64_t, 3>& st) {
                    O* ro = o + off[0];
                    const T *ra = pa + off[1], *rb = pb + off[2];
                    // The broadcasts that matter (rows times a per-row scalar,
                    // rows plus a bias row) get loops that vectorise.
                    if (st[0] == 1 && st[1] == 1 && st[2] == 1) {
                      for (int64_t j = 0; j < n; ++j) ro[j] = O(math::binary(Op, ra[j], rb[j]));
                    } else if (st[0] == 1 && st[1] == 1 && st[2] == 0) {
                      const T vb = rb[0];
                      for (int64_t j = 0; j < n; ++j) ro[j] = O(math::binary(Op, ra[j], vb));
                    } else if (st[0] == 1 && st[1] == 0 && st[2] == 1) {
                      const T va = ra[0];
                      for (int64_t j = 0; j < n; ++j) ro[j] = O(math::binary(Op, va, rb[j]));
                    } else {
                      for (int64_t j = 0; j < n; ++j)
                        o[off[0] + j * st[0]] = O(math::binary(Op, ra[j * st[1]], rb[j * st[2]]));
                    }
                  });
}

template <typename T, size_t... I>
void unary_table(math::Unary op, const Tensor& x, T p, const Tensor& out, std::index_sequence<I...>) {
  ((op == math::Unary(I) ? unary_loop<math::Unary(I), T>(x, p, out) : void()), ...);
}

template <typename T, typename O, size_t... I>
void binary_table(math::Binary op, const Tensor& a, const Tensor& b, const Tensor& out,
                  std::index_sequence<I...>) {
  ((op == math::Binary(I) ? binary_loop<math::Binary(I), T, O>(a, b, out) : void()), ...);
}

}  // namespace

void unary(math::Unary op, const Tensor& x, double p, const Tensor& out) {
  dtype_switch_float(x.dtype(), "unary", [&](auto tag) {
    using T = typename decltype(tag)::type;
    unary_table<T>(op, x, T(p), out, std::make_index_sequence<size_t(math::Unary::sign) + 1>{});
  });
}

void binary(math::Binary op, const Tensor& a, const Tensor& b, const Tensor& out) {
  constexpr auto kOps = std::make_index_sequence<size_t(math::Binary::gt) + 1>{};
  dtype_switch_native(a.dtype(), "binary", [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (std::is_same_v<T, bool>) {
      MOE_CHECK(false, "binary: arithmetic on bool tensors is not supported");
    } else if (out.dtype() == DType::b8) {
      binary_table<T, bool>(op, a, b, out, kOps);
    } else {
      binary_table<T, T>(op, a, b, out, kOps);
    }
  });
}

void swiglu(const Tensor& gate, const Tensor& up, const Tensor& out) {
  dtype_switch_float(gate.dtype(), "swiglu", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T *a = gate.data<T>(), *b = up.data<T>();
    T* o = out.data<T>();
    parallel_for(out.numel(), 16384, [&](int64_t s, int64_t e) {
      for (int64_t i = s; i < e; ++i) o[i] = math::swiglu(a[i], b[i]);
    });
  });
}

void swiglu_backward(const Tensor& g, const Tensor& gate, const Tensor& up, const Tensor& dgate, const Tensor& dup) {
  dtype_switch_float(gate.dtype(), "swiglu backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T *pg = g.data<T>(), *a = gate.data<T>(), *b = up.data<T>();
    T *da = dgate.data<T>(), *db = dup.data<T>();
    parallel_for(g.numel(), 16384, [&](int64_t s, int64_t e) {
      for (int64_t i = s; i < e; ++i) math::swiglu_grads(pg[i], a[i], b[i], da[i], db[i]);
    });
  });
}

void where(const Tensor& cond, const Tensor& a, const Tensor& b, const Tensor& out) {
  dtype_switch_native(a.dtype(), "where", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const bool* c = cond.data<bool>();
    const T* pa = a.data<T>();
    const T* pb = b.data<T>();
    T* o = out.data<T>();
    strided_loop<4>(out.shape(),
                    {out.strides(), broadcast_strides(cond, out.shape()), broadcast_strides(a, out.shape()),
                     broadcast_strides(b, out.shape())},
                    [&](const std::array<int64_t, 4>& off, int64_t n, const std::array<int64_t, 4>& st) {
                      for (int64_t j = 0; j < n; ++j)
                        o[off[0] + j] = c[off[1] + j * st[1]] ? pa[off[2] + j * st[2]] : pb[off[3] + j * st[3]];
                    });
  });
}

}  // namespace moe::cpu
