// The CUDA neural-network kernels (core/cuda/nn.cu) against the CPU ones
// through the backend seam: RoPE (the CPU's table), dropout (the CPU's
// Philox words), embedding forward and backward (ids in order) and the
// first bad id bit for bit; the router's selection (experts and their
// scores) bit for bit; RMSNorm's row sums run over a block tree, so it
// agrees within bounds that follow the sums. Runs on a GPU or the SIMT
// shim; skipped without a device.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "core/backend/nn.h"
#include "core/ops.h"
#include "tests/core/cuda_test_util.h"

namespace moe {
namespace {

using namespace cuda_test;

TEST(CudaNn, RmsNormForwardAndBackwardMatchTheCpu) {
  MOE_REQUIRE_DEVICE();
  for (DType t : {DType::f32, DType::f64})
    for (const Shape& s : {Shape{5, 24}, Shape{3, 517}, Shape{1, 1}}) {
      const std::string what = "rms_norm " + shape_str(s) + " " + dtype_name(t);
      const int64_t R = s[0], D = s[1];
      const Tensor x = sample(s, 1, t), w = sample({D}, 2, t), g = sample(s, 3, t);
      const Tensor gx = to_device(x, kGpu), gw = to_device(w, kGpu), gg = to_device(g, kGpu);
      const Tensor out = empty(s, t), rstd = empty({R}, t), gout = empty(s, t, kGpu), grstd = empty({R}, t, kGpu);
      backend::rms_norm_fwd(x, w, 1e-6, out, rstd);
      backend::rms_norm_fwd(gx, gw, 1e-6, gout, grstd);
      // rstd from an f64 sum of squares: a rounding of its own at most.
      expect_ulps(rstd, grstd, 2, what + ": rstd");
      expect_ulps(out, gout, 4, what + ": out");
      const Tensor dx = empty(s, t), dw = empty({D}, t), gdx = empty(s, t, kGpu), gdw = empty({D}, t, kGpu);
      backend::rms_norm_bwd(g, x, w, rstd, dx, dw);
      backend::rms_norm_bwd(gg, gx, gw, to_device(rstd, kGpu), gdx, gdw);
      // dx = rstd (g w - xhat c): the difference of two terms; dw a row sum.
      // c = mean(g w xhat) is an f64 sum rounded to the dtype on each device.
      const Tensor g64 = g.to(DType::f64), xhat = mul(x.to(DType::f64), rstd.to(DType::f64).reshape({R, 1}));
      const Tensor gw64 = abs(mul(g64, w.to(DType::f64)));
      const std::vector<double> gw_abs = values(gw64), xh = values(abs(xhat));
      const std::vector<double> c_abs = values(mean(mul(gw64, abs(xhat)), {1}));
      const std::vector<double> rs = values(rstd.to(DType::f64));
      const std::vector<double> col = values(sum(abs(mul(g64, xhat)), {0}));
      const double eps = eps_of(t);
      expect_within(dx, gdx, [&](size_t i) {
        const size_t r = i / size_t(D);
        return 8 * eps * rs[r] * (gw_abs[i] + xh[i] * c_abs[r]);
      }, what + ": dx");
      expect_within(dw, gdw, [&](size_t j) { return 8 * eps * col[j]; }, what + ": dw");
    }
}

TEST(CudaNn, RopeBothConventionsAndItsInverseMatchTheCpuBitwise) {
  MOE_REQUIRE_DEVICE();
  for (DType t : {DType::f32, DType::f64})
    for (bool interleaved : {false, true})
      for (bool inverse : {false, true})
        for (int64_t rot : {8, 6}) {  // all dims, or a partial rotation
          const Tensor x = sample({2, 7, 3, 8}, 4, t), gx = to_device(x, kGpu);
          const Tensor c = empty(x.shape(), t), g = empty(x.shape(), t, kGpu);
          backend::rope(x, 10000.0, interleaved, 5, rot, inverse, c);
          backend::rope(gx, 10000.0, interleaved, 5, rot, inverse, g);
          expect_bitwise(c, g, std::string("rope ") + dtype_name(t) + (interleaved ? " interleaved" : " half-split") +
                                   (inverse ? " inverse" : "") + " rot_dim " + std::to_string(rot));
        }
}

TEST(CudaNn, EmbeddingForwardBackwardAndBadIdsMatchTheCpuBitwise) {
  MOE_REQUIRE_DEVICE();
  const int64_t V = 11, D = 37;
  std::vector<double> idv;
  for (int k = 0; k < 300; ++k) idv.push_back(double((k * k + 3 * k) % V));  // repeats, in a mixed order
  for (DType it : {DType::i32, DType::i64}) {
    const Tensor ids = from_vector(idv, {int64_t(idv.size())}, DType::f64).to(it), gids = to_device(ids, kGpu);
    for (DType t : {DType::f32, DType::bf16}) {
      const Tensor w = sample({V, D}, 5).to(t), gw = to_device(w, kGpu);
      const Tensor c = empty({int64_t(idv.size()), D}, t), g = empty({int64_t(idv.size()), D}, t, kGpu);
      backend::embedding_fwd(w, ids, c);
      backend::embedding_fwd(gw, gids, g);
      expect_bitwise(c, g, std::string("embedding rows of ") + dtype_name(t) + " by " + dtype_name(it));
    }
    for (DType t : {DType::f32, DType::f64}) {
      const Tensor gr = sample({int64_t(idv.size()), D}, 6, t);
      const Tensor c = zeros({V, D}, t), g = zeros({V, D}, t, kGpu);
      backend::embedding_bwd(gr, ids, c);
      backend::embedding_bwd(to_device(gr, kGpu), gids, g);
      expect_bitwise(c, g, std::string("embedding backward ") + dtype_name(t) + " by " + dtype_name(it));
    }
    for (int64_t bad : {-1, 0, 299}) {
      std::vector<double> b = idv;
      if (bad >= 0) b[size_t(bad)] = double(V);
      if (bad == 0) b[7] = -3;
      const Tensor bi = from_vector(b, {int64_t(b.size())}, DType::f64).to(it);
      const Tensor cp = empty({}, DType::i64), gp = empty({}, DType::i64, kGpu);
      backend::embedding_first_bad(bi, V, cp);
      backend::embedding_first_bad(to_device(bi, kGpu), V, gp);
      expect_bitwise(cp, gp, "first bad id, case " + std::to_string(bad));
    }
  }
}

TEST(CudaNn, DropoutMasksAreTheCpusBitwise) {
  MOE_REQUIRE_DEVICE();
  for (DType t : {DType::f32, DType::f64})
    for (double p : {0.1, 0.5}) {
      const Tensor x = sample({1031}, 7, t);  // not a multiple of the 4 words of a Philox block
      const Tensor c = empty(x.shape(), t), g = empty(x.shape(), t, kGpu);
      backend::dropout(x, p, 1234, 9, c);
      backend::dropout(to_device(x, kGpu), p, 1234, 9, g);
      expect_bitwise(c, g, std::string("dropout ") + dtype_name(t) + " p " + std::to_string(p));
    }
}

// Scores with many exact ties (a few levels) and NaN rows, so the tie rule
// and the NaN rule are both exercised; ragged token counts.
TEST(CudaNn, RouterSelectionMatchesTheCpuBitwise) {
  MOE_REQUIRE_DEVICE();
  struct Case {
    int64_t E, K, G, M;
    bool topn;
  };
  for (const Case& c : {Case{16, 4, 4, 2, false}, Case{16, 4, 4, 2, true}, Case{64, 6, 8, 3, true},
                        Case{8, 8, 1, 1, false}, Case{32, 2, 32, 2, false}})
    for (int64_t N : {int64_t(1), int64_t(63), int64_t(257)})
      for (bool with_bias : {false, true})
        for (bool ties : {false, true}) {
          route_math::Spec s;
          s.experts = c.E, s.top_k = c.K, s.groups = c.G, s.top_groups = c.M, s.topn_sum = c.topn;
          std::vector<double> v = values(sigmoid(randn({N, c.E}, uint64_t(N * 7 + c.E))));
          if (ties)
            for (double& x : v) x = std::round(x * 4.0) / 4.0;
          if (N > 1) v[size_t(c.E + 1)] = std::nan("");  // one NaN score in the second token
          const Tensor sc = from_vector(v, {N, c.E}, DType::f32);
          const Tensor b = with_bias ? mul(randn({c.E}, 9), 0.01) : Tensor();
          const TopkRoute cpu = route_topk(sc, b, s);
          const TopkRoute gpu = route_topk(to_device(sc, kGpu), with_bias ? to_device(b, kGpu) : Tensor(), s);
          const std::string what = "route E" + std::to_string(c.E) + " K" + std::to_string(c.K) + " G" +
                                   std::to_string(c.G) + " M" + std::to_string(c.M) + (c.topn ? " topn" : " max") +
                                   " N" + std::to_string(N) + (with_bias ? " bias" : "") + (ties ? " ties" : "");
          expect_bitwise(cpu.experts, gpu.experts, what + ": experts");
          expect_bitwise(cpu.affinity, gpu.affinity, what + ": affinity");
        }
}

}  // namespace
}  // namespace moe
