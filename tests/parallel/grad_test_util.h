#pragma once
// Helpers of the gradient-synchronisation and ZeRO-1 tests: a small mixed
// parameter set, deterministic per-rank gradients, and the reference result
// of the gradient rule computed locally from every rank's inputs.
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/ops.h"
#include "parallel/grad_sync.h"
#include "parallel/mesh.h"
#include "tests/mpi_test_util.h"

namespace moe::parallel::testing {

// Every (tp, ep) layout that fits a world of `w` ranks.
inline std::vector<std::pair<int, int>> layouts(int w) {
  std::vector<std::pair<int, int>> out;
  for (int tp = 1; tp <= w; ++tp)
    for (int ep = 1; ep <= w; ++ep)
      if (w % tp == 0 && w % ep == 0) out.emplace_back(tp, ep);
  return out;
}

// A Mesh over (a duplicate of) the test world.
inline std::unique_ptr<Mesh> make_mesh(int tp, int ep) {
  comm::Communicator& w = moe::test::test_world();
  return std::make_unique<Mesh>(w.split(0, w.rank(), "world"), tp, ep);
}

inline uint64_t mix(uint64_t h, uint64_t v) {
  h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
  return h * 0xff51afd7ed558ccdull;
}
inline uint64_t hash_str(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

struct ParamSpec {
  std::string name;
  Shape shape;
  ParamClass cls;
  bool sometimes_unused = false;  // a gradient only on even ranks
};

// Norms, matrices (Muon), a 3-D expert stack, an embedding and a head.
inline std::vector<ParamSpec> mixed_specs() {
  return {
      {"embed.weight", {8, 6}, ParamClass::tp_sharded},
      {"layers.0.norm.weight", {6}, ParamClass::replicated},
      {"layers.0.attn.wq.weight", {6, 4}, ParamClass::tp_sharded},
      {"layers.0.moe.router.weight", {6, 4}, ParamClass::replicated},
      {"layers.0.moe.experts.w1", {2, 6, 5}, ParamClass::expert},
      {"layers.0.moe.experts.w2", {2, 5, 6}, ParamClass::expert},
      {"layers.0.moe.extra.bias", {3}, ParamClass::replicated, true},
      {"layers.0.moe.experts.b", {2, 5}, ParamClass::expert, true},
      {"head.weight", {6, 5}, ParamClass::tp_sharded},
  };
}

// Which slice of a parameter of class `cls` world rank `r` holds.
inline int slice_of(const MeshSizes& s, ParamClass cls, int r) {
  switch (cls) {
    case ParamClass::replicated: return 0;
    case ParamClass::tp_sharded: return r % s.tp;
    case ParamClass::expert: return r % s.ep;
  }
  return 0;
}

// Parameters with values that depend only on (name, slice), so they agree
// within every group that must hold the same values.
inline std::vector<ClassedParam> make_params(const std::vector<ParamSpec>& specs, const MeshSizes& s, int rank) {
  std::vector<ClassedParam> out;
  for (const ParamSpec& sp : specs) {
    Tensor t = randn(sp.shape, hash_str(sp.name), uint64_t(slice_of(s, sp.cls, rank)));
    t.set_requires_grad(true);
    out.push_back({sp.name, t, sp.cls});
  }
  return out;
}

inline std::vector<ClassedParam> clone_params(const std::vector<ClassedParam>& ps) {
  std::vector<ClassedParam> out;
  for (const ClassedParam& p : ps) {
    Tensor t = p.param.detach().clone();
    t.set_requires_grad(true);
    out.push_back({p.name, t, p.cls});
  }
  return out;
}

inline bool has_grad(const ParamSpec& sp, int rank) { return !sp.sometimes_unused || rank % 2 == 0; }

// Rank `rank`'s gradient of parameter `sp` in step `step`: multiples of 1/8
// in [-2, 2], so any summation order is exact and the reference is bitwise.
inline std::vector<float> grad_values(const ParamSpec& sp, int rank, int step) {
  std::vector<float> v(size_t(shape_numel(sp.shape)));
  if (!has_grad(sp, rank)) return std::vector<float>(v.size(), 0.0f);
  const uint64_t base = mix(mix(hash_str(sp.name), uint64_t(rank)), uint64_t(step));
  for (size_t k = 0; k < v.size(); ++k) v[k] = float(int64_t(mix(base, k) % 33) - 16) / 8.0f;
  return v;
}

inline Tensor tensor_of(const std::vector<float>& v, const Shape& s) {
  Tensor t = empty(s);
  std::memcpy(t.data<float>(), v.data(), v.size() * sizeof(float));
  return t;
}

inline void set_grads(std::vector<ClassedParam>& ps, const std::vector<ParamSpec>& specs, int rank, int step) {
  for (size_t i = 0; i < ps.size(); ++i) {
    if (has_grad(specs[i], rank))
      ps[i].param.set_grad(tensor_of(grad_values(specs[i], rank, step), specs[i].shape));
    else
      ps[i].param.zero_grad();
  }
}

// The gradient rule computed locally: world rank `me`'s synchronised
// gradient of `sp` = sum over the ranks of its class's group / DP.
inline std::vector<float> reference_grad(const ParamSpec& sp, const MeshSizes& s, int me, int step) {
  std::vector<double> acc(size_t(shape_numel(sp.shape)), 0.0);
  for (int r = 0; r < s.world; ++r) {
    const bool member = sp.cls == ParamClass::replicated ||
                        (sp.cls == ParamClass::tp_sharded && r % s.tp == me % s.tp) ||
                        (sp.cls == ParamClass::expert && r % s.ep == me % s.ep);
    if (!member) continue;
    const std::vector<float> g = grad_values(sp, r, step);
    for (size_t k = 0; k < acc.size(); ++k) acc[k] += g[k];
  }
  std::vector<float> out(acc.size());
  for (size_t k = 0; k < acc.size(); ++k) out[k] = float(acc[k]) / float(s.dp());
  return out;
}

inline std::vector<float> floats(const Tensor& t) {
  const Tensor c = t.contiguous();
  std::vector<float> out(size_t(c.numel()));
  std::memcpy(out.data(), c.data<float>(), out.size() * sizeof(float));
  return out;
}

inline bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// True when every rank of `group` holds bitwise the same `v`.
inline bool same_on_group(comm::Communicator& group, const std::vector<float>& v) {
  const Tensor all = group.all_gather(tensor_of(v, {int64_t(v.size())}), 0);
  const float* d = all.data<float>();
  for (int r = 0; r < group.size(); ++r)
    if (std::memcmp(d + size_t(r) * v.size(), v.data(), v.size() * sizeof(float)) != 0) return false;
  return true;
}

}  // namespace moe::parallel::testing
