// The CUDA attention kernels (core/cuda/attention.cu) against the CPU's:
// forward (out, lse), backward (dq, dk, dv) and the max logit, for GQA and
// MLA-like head shapes (Dh != Dv), with and without a window, within
// bounds that follow the sums (the two devices add keys in other orders);
// the GPU run twice is bitwise the same. Runs on a GPU or the SIMT shim.
#include <gtest/gtest.h>

#include <cmath>
#include <set>
#include <string>
#include <vector>

#include "core/backend/attention.h"
#include "core/cuda/attention.h"
#include "core/ops.h"
#include "tests/core/cuda_test_util.h"

namespace moe {
namespace {

using namespace cuda_test;

struct Case {
  int64_t B, T, H, Hkv, Dh, Dv, window;
};

// Bound for values that are sums of n terms of size about `scale`.
void expect_close_rel(const Tensor& c, const Tensor& g, double rel, const std::string& what) {
  const std::vector<double> a = values(c);
  double scale = 0;
  for (double v : a) scale = std::max(scale, std::abs(v));
  expect_within(c, g, [&](size_t) { return rel * scale; }, what);
}

TEST(CudaAttention, ForwardBackwardAndMaxLogitMatchTheCpu) {
  MOE_REQUIRE_DEVICE();
  const std::vector<Case> cases = {{2, 9, 4, 2, 8, 8, 0},    {1, 17, 2, 1, 6, 4, 0},    {2, 12, 3, 3, 5, 7, 4},
                                   {1, 65, 2, 1, 24, 16, 0}, {1, 129, 2, 2, 8, 12, 40}, {1, 63, 4, 1, 7, 5, 63},
                                   {1, 33, 1, 1, 64, 64, 0}, {1, 40, 2, 1, 256, 256, 17}};
  std::set<int> fwd_tiles, dq_tiles, dkv_tiles;
  for (const Case& k : cases)
    for (DType t : {DType::f32, DType::f64}) {
      const cuda::AttentionTiles tiles = cuda::attention_tiles(t, k.Dh, k.Dv);
      fwd_tiles.insert(tiles.fwd), dq_tiles.insert(tiles.dq), dkv_tiles.insert(tiles.dkv);
      const std::string what = "B " + std::to_string(k.B) + " T " + std::to_string(k.T) + " H " +
                               std::to_string(k.H) + "/" + std::to_string(k.Hkv) + " Dh " + std::to_string(k.Dh) +
                               " Dv " + std::to_string(k.Dv) + " window " + std::to_string(k.window) + " " +
                               dtype_name(t);
      const Tensor q = sample({k.B, k.T, k.H, k.Dh}, 1, t), kk = sample({k.B, k.T, k.Hkv, k.Dh}, 2, t),
                   v = sample({k.B, k.T, k.Hkv, k.Dv}, 3, t), gr = sample({k.B, k.T, k.H, k.Dv}, 4, t);
      // sample() has a few large entries: scale down so softmax is not one-hot everywhere.
      const double scale = 0.05;
      const Tensor gq = to_device(q, kGpu), gk = to_device(kk, kGpu), gv = to_device(v, kGpu),
                   gg = to_device(gr, kGpu);
      const Tensor out = empty({k.B, k.T, k.H, k.Dv}, t), lse = empty({k.B, k.H, k.T}, t);
      const Tensor gout = empty({k.B, k.T, k.H, k.Dv}, t, kGpu), glse = empty({k.B, k.H, k.T}, t, kGpu);
      backend::attention_fwd(q, kk, v, scale, k.window, out, lse);
      backend::attention_fwd(gq, gk, gv, scale, k.window, gout, glse);
      const double rel = t == DType::f32 ? 2e-5 : 1e-13;
      expect_close_rel(out, gout, rel, what + ": out");
      expect_close_rel(lse, glse, rel, what + ": lse");
      const Tensor dq = empty(q.shape(), t), dk = empty(kk.shape(), t), dv = empty(v.shape(), t);
      const Tensor gdq = empty(q.shape(), t, kGpu), gdk = empty(kk.shape(), t, kGpu), gdv = empty(v.shape(), t, kGpu);
      backend::attention_bwd(gr, q, kk, v, out, lse, scale, k.window, dq, dk, dv);
      backend::attention_bwd(gg, gq, gk, gv, gout, glse, scale, k.window, gdq, gdk, gdv);
      expect_close_rel(dq, gdq, 10 * rel, what + ": dq");
      expect_close_rel(dk, gdk, 10 * rel, what + ": dk");
      expect_close_rel(dv, gdv, 10 * rel, what + ": dv");
      const Tensor ml = empty({k.B, k.H}, t), gml = empty({k.B, k.H}, t, kGpu);
      backend::attention_max_logits(q, kk, scale, k.window, ml);
      backend::attention_max_logits(gq, gk, scale, k.window, gml);
      expect_close_rel(ml, gml, rel, what + ": max logit");
      // Run to run: bitwise.
      const Tensor gdq2 = empty(q.shape(), t, kGpu), gdk2 = empty(kk.shape(), t, kGpu),
                   gdv2 = empty(v.shape(), t, kGpu);
      backend::attention_bwd(gg, gq, gk, gv, gout, glse, scale, k.window, gdq2, gdk2, gdv2);
      expect_bitwise(host_copy(gdk), gdk2, what + ": dk twice");
      expect_bitwise(host_copy(gdq), gdq2, what + ": dq twice");
      expect_bitwise(host_copy(gdv), gdv2, what + ": dv twice");
    }
  const std::set<int> all = {16, 32, 64};
  EXPECT_EQ(fwd_tiles, all);
  EXPECT_EQ(dq_tiles, all);
  EXPECT_EQ(dkv_tiles, all);
}

}  // namespace
}  // namespace moe
