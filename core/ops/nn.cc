// Neural-network ops: rms_norm, rope, causal attention, embedding, dropout.
// Each runs one fused backend kernel (core/backend/nn.h, attention.h)
// forward and one backward.
#include <cmath>

#include "core/backend/attention.h"
#include "core/backend/nn.h"
#include "core/ops/op_utils.h"

namespace moe {

namespace {

// A contiguous compute-dtype copy of x (x itself when already so), no autograd.
Tensor compute_contig(const Tensor& x) { return contiguous(to_compute(x.detach())); }

void check_float_input(const char* op, const Tensor& x) {
  check_defined(op, x);
  check_floating(op, x);
}

void check_pair(const char* op, const Tensor& a, const Tensor& b) {
  check_same_dtype(op, a, b);
  check_same_device(op, a, b);
}

}  // namespace

// ---------------- rms_norm ----------------

Tensor rms_norm(const Tensor& x, const Tensor& weight, double eps) {
  const char* name = "rms_norm";
  check_float_input(name, x);
  check_float_input(name, weight);
  check_pair(name, x, weight);
  MOE_CHECK(x.dim() >= 1 && weight.dim() == 1 && weight.shape()[0] == x.shape().back(), name, ": weight ",
            weight.str(), " does not match the last dim of x ", x.str());
  MOE_CHECK(eps >= 0, name, ": eps must be >= 0, got ", eps);
  const Tensor xc = compute_contig(x), wc = compute_contig(weight);
  Tensor out = empty(x.shape(), xc.dtype(), x.device());
  Tensor rstd = empty(Shape(x.shape().begin(), x.shape().end() - 1), xc.dtype(), x.device());
  backend::rms_norm_fwd(xc, wc, eps, out, rstd);
  out = from_compute(out, x.dtype());
  if (needs_grad({x, weight})) {
    SavedTensor sx(x, name), sw(weight, name);
    const bool need_w = weight.requires_grad();
    attach_grad_fn(name, {out}, {x, weight}, [sx, sw, rstd, need_w](std::vector<Tensor>& g) {
      const Tensor x = sx.get(), w = sw.get(), xc = compute_contig(x);
      Tensor dx = empty(x.shape(), xc.dtype(), x.device());
      Tensor dw = need_w ? empty(w.shape(), xc.dtype(), x.device()) : Tensor();
      backend::rms_norm_bwd(compute_contig(g[0]), xc, compute_contig(w), rstd, dx, dw);
      return std::vector<Tensor>{from_compute(dx, x.dtype()), need_w ? from_compute(dw, w.dtype()) : Tensor()};
    });
  }
  return out;
}

// ---------------- rope ----------------

namespace {
Tensor rope_raw(const Tensor& x, double base, RopeStyle style, int64_t offset, int64_t rot_dim, bool inverse) {
  const Tensor xc = compute_contig(x);
  Tensor out = empty(x.shape(), xc.dtype(), x.device());
  backend::rope(xc, base, style == RopeStyle::interleaved, offset, rot_dim, inverse, out);
  return from_compute(out, x.dtype());
}
}  // namespace

Tensor rope(const Tensor& x, double base, RopeStyle style, int64_t position_offset, int64_t rot_dim) {
  const char* name = "rope";
  check_float_input(name, x);
  MOE_CHECK(x.dim() == 4, name, ": needs x [B, T, H, Dh], got ", x.str());
  const int64_t Dh = x.shape()[3];
  const int64_t rd = rot_dim == -1 ? Dh : rot_dim;
  MOE_CHECK(rd > 0 && rd <= Dh && rd % 2 == 0, name, ": rot_dim must be even and in (0, ", Dh, "], got ", rd,
            " for ", x.str());
  MOE_CHECK(base > 0, name, ": base must be > 0, got ", base);
  MOE_CHECK(position_offset >= 0, name, ": position_offset must be >= 0, got ", position_offset);
  Tensor out = rope_raw(x, base, style, position_offset, rd, false);
  if (needs_grad({x})) {
    // A rotation's adjoint is the rotation by minus the angle.
    attach_grad_fn(name, {out}, {x}, [=](std::vector<Tensor>& g) {
      return std::vector<Tensor>{rope_raw(g[0], base, style, position_offset, rd, true)};
    });
  }
  return out;
}

// ---------------- attention ----------------

Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v, double scale,
                                    int64_t window) {
  const char* name = "scaled_dot_product_attention";
  check_float_input(name, q);
  check_defined(name, k);
  check_defined(name, v);
  check_pair(name, q, k);
  check_pair(name, q, v);
  MOE_CHECK(q.dim() == 4 && k.dim() == 4 && v.dim() == 4, name,
            ": needs q [B, T, H, Dh], k [B, S, Hkv, Dh], v [B, S, Hkv, Dv], got ", q.str(), ", ", k.str(), ", ",
            v.str());
  const int64_t B = q.shape()[0], T = q.shape()[1], H = q.shape()[2], Dh = q.shape()[3];
  const int64_t Hkv = k.shape()[2], Dv = v.shape()[3];
  MOE_CHECK(k.shape()[0] == B && v.shape()[0] == B && k.shape()[1] == T && v.shape()[1] == T, name,
            ": q, k, v need the same batch and sequence length (causal, S == T), got ", q.str(), ", ", k.str(),
            ", ", v.str());
  MOE_CHECK(v.shape()[2] == Hkv && k.shape()[3] == Dh, name, ": k ", k.str(), " and v ", v.str(),
            " do not match q ", q.str(), " in kv heads / head dim");
  MOE_CHECK(Hkv > 0 && H % Hkv == 0, name, ": query heads ", H, " not divisible by kv heads ", Hkv, " (q ",
            q.str(), ", k ", k.str(), ")");
  MOE_CHECK(window >= 0, name, ": window must be >= 0, got ", window);
  const double s = scale > 0 ? scale : 1.0 / std::sqrt(double(Dh));
  const Tensor qc = compute_contig(q), kc = compute_contig(k), vc = compute_contig(v);
  Tensor oc = empty({B, T, H, Dv}, qc.dtype(), q.device());
  Tensor lse = empty({B, H, T}, qc.dtype(), q.device());
  backend::attention_fwd(qc, kc, vc, s, window, oc, lse);
  Tensor out = from_compute(oc, q.dtype());
  if (needs_grad({q, k, v})) {
    // The compute-dtype output and the row log-sum-exps stand in for the
    // probability matrix, which backward recomputes row by row.
    SavedTensor sq(q, name), sk(k, name), sv(v, name), so(oc, name);
    attach_grad_fn(name, {out}, {q, k, v}, [sq, sk, sv, so, lse, s, window](std::vector<Tensor>& g) {
      const Tensor q = sq.get(), k = sk.get(), v = sv.get();
      const Tensor qc = compute_contig(q), kc = compute_contig(k), vc = compute_contig(v);
      Tensor dq = empty(q.shape(), qc.dtype(), q.device()), dk = empty(k.shape(), qc.dtype(), q.device()),
             dv = empty(v.shape(), qc.dtype(), q.device());
      backend::attention_bwd(compute_contig(g[0]), qc, kc, vc, so.get(), lse, s, window, dq, dk, dv);
      return std::vector<Tensor>{from_compute(dq, q.dtype()), from_compute(dk, k.dtype()),
                                 from_compute(dv, v.dtype())};
    });
  }
  return out;
}

Tensor attention_max_logits(const Tensor& q, const Tensor& k, double scale, int64_t window) {
  const char* name = "attention_max_logits";
  check_float_input(name, q);
  check_defined(name, k);
  check_pair(name, q, k);
  MOE_CHECK(q.dim() == 4 && k.dim() == 4 && k.shape()[0] == q.shape()[0] && k.shape()[1] == q.shape()[1] &&
                k.shape()[3] == q.shape()[3] && k.shape()[2] > 0 && q.shape()[2] % k.shape()[2] == 0,
            name, ": needs q [B, T, H, Dh] and k [B, T, Hkv, Dh] with H % Hkv == 0, got ", q.str(), ", ", k.str());
  MOE_CHECK(window >= 0, name, ": window must be >= 0, got ", window);
  const double s = scale > 0 ? scale : 1.0 / std::sqrt(double(q.shape()[3]));
  const Tensor qc = compute_contig(q.detach()), kc = compute_contig(k.detach());
  Tensor out = empty({q.shape()[0], q.shape()[2]}, qc.dtype(), q.device());
  backend::attention_max_logits(qc, kc, s, window, out);
  return out;
}

// ---------------- embedding ----------------

Tensor embedding(const Tensor& weight, const Tensor& ids) {
  const char* name = "embedding";
  check_float_input(name, weight);
  check_defined(name, ids);
  check_same_device(name, weight, ids);
  MOE_CHECK(weight.dim() == 2, name, ": weight must be [V, D], got ", weight.str());
  MOE_CHECK(ids.dtype() == DType::i32 || ids.dtype() == DType::i64, name, ": ids must be i32 or i64, got ",
            ids.str());
  const int64_t V = weight.shape()[0], D = weight.shape()[1];
  const Tensor idc = contiguous(ids.detach());
  const Tensor bad_pos = empty({}, DType::i64, ids.device());
  backend::embedding_first_bad(idc, V, bad_pos);
  const int64_t bad = host_i64(bad_pos);  // host read: the check's answer, one i64
  if (bad >= 0) {
    Shape pos(size_t(ids.dim()));
    for (int64_t d = ids.dim() - 1, r = bad; d >= 0; --d) {
      pos[size_t(d)] = r % ids.shape()[size_t(d)];
      r /= ids.shape()[size_t(d)];
    }
    const int64_t id = host_i64_at(idc, bad);
    MOE_CHECK(false, name, ": id ", id, " at position ", shape_str(pos), " of ids ", ids.str(),
              " is out of range [0, ", V, ") for weight ", weight.str());
  }
  Tensor w = weight.detach();
  if (D > 1 && w.strides()[1] != 1) w = contiguous(w);
  Shape shape = ids.shape();
  shape.push_back(D);
  Tensor out = empty(shape, weight.dtype(), weight.device());
  backend::embedding_fwd(w, idc, out);
  if (needs_grad({weight})) {
    const DType wt = weight.dtype();
    SavedTensor sids(idc, name);
    attach_grad_fn(name, {out}, {weight}, [sids, V, D, wt](std::vector<Tensor>& g) {
      const Tensor gc = compute_contig(g[0]);
      Tensor dw = zeros({V, D}, gc.dtype(), gc.device());
      backend::embedding_bwd(gc, sids.get(), dw);
      return std::vector<Tensor>{from_compute(dw, wt)};
    });
  }
  return out;
}

// ---------------- router selection ----------------

static void check_route_spec(const route_math::Spec& s) {
  MOE_CHECK(route_math::consistent(s), "route_topk: inconsistent routing: E=", s.experts, " K=", s.top_k,
            " G=", s.groups, " M=", s.top_groups, " (need 1 <= K <= E, G | E, G <= ", route_math::kMaxGroups,
            ", 1 <= M <= G, M * E / G >= K)");
}

TopkRoute route_topk(const Tensor& scores, const Tensor& bias, const route_math::Spec& s) {
  check_defined("route_topk", scores);
  check_route_spec(s);
  MOE_CHECK(scores.dim() == 2 && scores.size(1) == s.experts, "route_topk: scores must be [N, ", s.experts,
            "], got ", scores.str());
  NoGradGuard no_grad;
  const Tensor sc = contiguous(cast(scores.detach(), DType::f32));
  Tensor b;
  if (bias.defined()) {
    MOE_CHECK(bias.dim() == 1 && bias.size(0) == s.experts, "route_topk: bias must be [", s.experts, "], got ",
              bias.str());
    b = contiguous(cast(bias.detach(), DType::f32));
  }
  const int64_t N = sc.size(0);
  TopkRoute r{empty({N, s.top_k}, DType::i32, sc.device()), empty({N, s.top_k}, DType::f32, sc.device())};
  backend::route_topk(sc, b, s, r.experts, r.affinity);
  return r;
}

// ---------------- dropout ----------------

namespace {
Tensor dropout_raw(const Tensor& x, double p, uint64_t seed, uint64_t stream) {
  const Tensor xc = compute_contig(x);
  Tensor out = empty(x.shape(), xc.dtype(), x.device());
  backend::dropout(xc, p, seed, stream, out);
  return from_compute(out, x.dtype());
}
}  // namespace

Tensor dropout(const Tensor& x, double p, uint64_t seed, uint64_t stream) {
  check_float_input("dropout", x);
  MOE_CHECK(p >= 0 && p < 1, "dropout: p must be in [0, 1), got ", p);
  if (p == 0) return x;
  Tensor out = dropout_raw(x, p, seed, stream);
  if (needs_grad({x})) {
    // The mask is recomputed from (seed, stream): the same elements are
    // dropped from the gradient, the rest divided by 1 - p.
    attach_grad_fn("dropout", {out}, {x}, [p, seed, stream](std::vector<Tensor>& g) {
      return std::vector<Tensor>{dropout_raw(g[0], p, seed, stream)};
    });
  }
  return out;
}

}  // namespace moe
