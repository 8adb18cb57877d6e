// The CUDA GEMM family (core/cuda/gemm.cu over cuda::blas::gemm: cuBLASLt,
// or the CPU's BLAS under the SIMT shim) against the CPU's: transposed and
// copied operands, broadcast batches, f32 / f64 / bf16 precision, K = 0 and
// grouped products with empty and one-row groups, within K ulps of
// sum |a| |b| (the GPU sums in its own order). The cuBLASLt descriptors of
// every layout are built without a device.
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "core/backend/gemm.h"
#include "core/cuda/blas.h"
#include "core/ops.h"
#include "tests/core/cuda_test_util.h"

namespace moe {
namespace {

using namespace cuda_test;

// |cpu - gpu| <= (K + 2) eps (|a| @ |b|), elementwise.
void expect_product(const Tensor& a, const Tensor& b, const Tensor& c, const Tensor& g, int64_t K, double eps,
                    const std::string& what) {
  const Tensor bound = matmul(abs(a.to(DType::f64)), abs(b.to(DType::f64)));
  const std::vector<double> bv = values(bound.reshape(c.shape()));
  expect_within(c, g, [&](size_t i) { return double(K + 2) * eps * bv[i] + 1e-300; }, what);
}

TEST(CudaGemm, MatmulLayoutsBatchesAndPrecisionsMatchTheCpu) {
  MOE_REQUIRE_DEVICE();
  // Each case's views are made on each device from the same values, so the
  // GPU sees the transposed, broadcast and sliced layouts themselves.
  using Views = std::function<std::pair<Tensor, Tensor>(const std::vector<Tensor>&)>;
  struct Case {
    std::string name;
    std::vector<Tensor> base;
    Views views;
  };
  const Tensor x = sample({3, 17, 9}, 1), y = sample({9, 33}, 2), z = sample({3, 33, 9}, 3);
  std::vector<Case> cases = {
      {"plain", {sample({17, 9}, 4), y}, [](const std::vector<Tensor>& v) { return std::pair(v[0], v[1]); }},
      {"a transposed", {sample({9, 17}, 5), y},
       [](const std::vector<Tensor>& v) { return std::pair(v[0].transpose(0, 1), v[1]); }},
      {"b transposed", {sample({17, 9}, 6), sample({33, 9}, 7)},
       [](const std::vector<Tensor>& v) { return std::pair(v[0], v[1].transpose(0, 1)); }},
      {"both transposed", {sample({9, 17}, 5), sample({33, 9}, 7)},
       [](const std::vector<Tensor>& v) { return std::pair(v[0].transpose(0, 1), v[1].transpose(0, 1)); }},
      {"batch with a shared b", {x, y}, [](const std::vector<Tensor>& v) { return std::pair(v[0], v[1]); }},
      {"batched b transposed", {x, z},
       [](const std::vector<Tensor>& v) { return std::pair(v[0], v[1].transpose(1, 2)); }},
      {"broadcast batch of a", {sample({1, 17, 9}, 8), z},
       [](const std::vector<Tensor>& v) { return std::pair(v[0].expand({3, 17, 9}), v[1].transpose(1, 2)); }},
      {"step-sliced a (copied)", {sample({17, 18}, 9), y},
       [](const std::vector<Tensor>& v) { return std::pair(slice(v[0], 1, 0, 18, 2), v[1]); }},
      {"a row of a wider matrix", {sample({17, 20}, 11), y},
       [](const std::vector<Tensor>& v) { return std::pair(slice(v[0], 1, 3, 12), v[1]); }},
      {"one row", {sample({1, 9}, 10), y}, [](const std::vector<Tensor>& v) { return std::pair(v[0], v[1]); }},
  };
  for (const Case& k : cases)
    for (DType t : {DType::f32, DType::f64})
      for (MatmulPrecision prec : {MatmulPrecision::fp32, MatmulPrecision::bf16}) {
        if (t == DType::f64 && prec == MatmulPrecision::bf16) continue;
        const std::string what = k.name + " " + dtype_name(t) + (prec == MatmulPrecision::bf16 ? " bf16" : "");
        std::vector<Tensor> hb, gb;
        for (const Tensor& v : k.base) {
          hb.push_back(v.to(t));
          gb.push_back(to_device(hb.back(), kGpu));
        }
        const auto [a, b] = k.views(hb);
        const auto [ga, gbv] = k.views(gb);
        Shape os = a.dim() > b.dim() ? a.shape() : b.shape();
        os[os.size() - 2] = a.shape()[size_t(a.dim() - 2)];
        os[os.size() - 1] = b.shape().back();
        const Tensor c = empty(os, t), g = empty(os, t, kGpu);
        backend::matmul(a, b, c, prec);
        backend::matmul(ga, gbv, g, prec);
        // bf16: both sides round the operands alike; the sums differ in order.
        expect_product(a, b, c, g, a.shape().back(), eps_of(t), what);
      }
  // K = 0: zeros.
  const Tensor g = full({4, 5}, 7.0, DType::f32, kGpu);
  backend::matmul(empty({4, 0}, DType::f32, kGpu), empty({0, 5}, DType::f32, kGpu), g, MatmulPrecision::fp32);
  expect_bitwise(zeros({4, 5}), g, "K = 0");
}

// The experts' three products (x_g @ w_g, dy_g @ w_g^T, x_g^T @ dy_g) as
// matmul_each gets them: row slices, transposed views, equal-row groups
// (one library group), empty and one-row groups, both precisions.
TEST(CudaGemm, GroupedProductsWithEmptyAndOneRowGroupsMatchTheCpu) {
  MOE_REQUIRE_DEVICE();
  const int64_t K = 12, N = 7;
  const std::vector<int64_t> rows = {5, 0, 1, 17, 0, 5, 5, 16};
  int64_t T = 0;
  for (int64_t r : rows) T += r;
  const Tensor x = sample({T, K}, 20), w = sample({int64_t(rows.size()), K, N}, 21), dy = sample({T, N}, 22);
  const Tensor gx = to_device(x, kGpu), gw = to_device(w, kGpu), gdy = to_device(dy, kGpu);
  for (MatmulPrecision prec : {MatmulPrecision::fp32, MatmulPrecision::bf16})
    for (int kind = 0; kind < 3; ++kind) {
      const char* names[] = {"x @ w", "dy @ w^T", "x^T @ dy"};
      const std::string what = std::string(names[kind]) + (prec == MatmulPrecision::bf16 ? " bf16" : "");
      const Shape out_shape = kind == 0 ? Shape{T, N} : kind == 1 ? Shape{T, K} : Shape{int64_t(rows.size()), K, N};
      const Tensor co = zeros(out_shape), go = zeros(out_shape, DType::f32, kGpu);
      std::vector<backend::MatmulJob> cj, gj;
      std::vector<std::pair<Tensor, Tensor>> operands;
      int64_t off = 0;
      for (size_t e = 0; e < rows.size(); ++e) {
        const int64_t r = rows[e];
        auto job = [&](const Tensor& xs, const Tensor& ws, const Tensor& dys, const Tensor& out) -> backend::MatmulJob {
          const Tensor we = select(ws, 0, int64_t(e));
          if (kind == 0) return {narrow(xs, 0, off, r), we, narrow(out, 0, off, r)};
          if (kind == 1) return {narrow(dys, 0, off, r), we.transpose(0, 1), narrow(out, 0, off, r)};
          return {narrow(xs, 0, off, r).transpose(0, 1), narrow(dys, 0, off, r), select(out, 0, int64_t(e))};
        };
        if (r > 0) {
          cj.push_back(job(x, w, dy, co));
          gj.push_back(job(gx, gw, gdy, go));
          operands.emplace_back(cj.back().a, cj.back().b);
        }
        off += r;
      }
      backend::matmul_each(cj, prec);
      backend::matmul_each(gj, prec);
      for (size_t i = 0; i < cj.size(); ++i)
        expect_product(operands[i].first, operands[i].second, cj[i].out, gj[i].out, operands[i].first.shape()[1],
                       eps_of(DType::f32), what + " job " + std::to_string(i));
    }
}

// No device needed: products of one shape share a library group, the
// column-major arguments take our B first, and mixed dtypes are refused.
TEST(CudaGemm, GroupedCallGroupsEqualShapesAndSwapsOperands) {
  std::vector<float> store(64);
  auto gemm = [&](int64_t M, bool ta, int slot) {
    cuda::blas::Gemm g;
    g.ta = ta;
    g.M = M;
    g.N = 3;
    g.K = 2;
    g.lda = ta ? M : 2;
    g.ldb = 3;
    g.ldc = 3;
    g.A = &store[size_t(slot)];
    g.B = &store[size_t(slot + 1)];
    g.C = &store[size_t(slot + 2)];
    return g;
  };
  const std::vector<cuda::blas::Gemm> gs = {gemm(4, false, 0), gemm(1, false, 3), gemm(4, false, 6),
                                            gemm(4, true, 9), gemm(4, false, 12)};
  const cuda::blas::GroupedCall c = cuda::blas::grouped_call(gs);
  ASSERT_EQ(c.size, (std::vector<int64_t>{3, 1, 1}));
  EXPECT_EQ(c.m, (std::vector<int64_t>{3, 3, 3}));
  EXPECT_EQ(c.n, (std::vector<int64_t>{4, 1, 4}));
  EXPECT_EQ(c.trans_second, (std::vector<char>{0, 0, 1}));
  EXPECT_EQ(c.ld_second, (std::vector<int64_t>{2, 2, 4}));
  // Group 0 holds products 0, 2 and 4, in order; our B goes first.
  EXPECT_EQ(c.first[1], gs[2].B);
  EXPECT_EQ(c.second[2], gs[4].A);
  EXPECT_EQ(c.out[4], gs[3].C);
  std::vector<cuda::blas::Gemm> mixed = gs;
  mixed[1].ab = DType::bf16;
  EXPECT_THROW(cuda::blas::grouped_call(mixed), Error);
}

// No device needed: each layout and dtype pair the backend uses gets its
// cuBLASLt descriptors built, and a bad leading dimension is refused.
TEST(CudaGemm, DescriptorsOfEveryLayoutAreAccepted) {
  for (DType ab : {DType::f32, DType::f64, DType::bf16})
    for (bool ta : {false, true})
      for (bool tb : {false, true}) {
        cuda::blas::Gemm g;
        g.ta = ta;
        g.tb = tb;
        g.M = 48;
        g.N = 80;
        g.K = 24;
        g.ab = ab;
        g.c = ab == DType::f64 ? DType::f64 : DType::f32;
        g.lda = ta ? g.M : g.K;
        g.ldb = tb ? g.K : g.N;
        g.ldc = g.N;
        EXPECT_NO_THROW(cuda::blas::describe(g)) << dtype_name(ab) << " ta " << ta << " tb " << tb;
      }
  cuda::blas::Gemm bad;
  bad.M = 4;
  bad.N = 4;
  bad.K = 8;
  bad.lda = 4;  // < K
  bad.ldb = 4;
  bad.ldc = 4;
  try {
    cuda::blas::describe(bad);
    ADD_FAILURE() << "a leading dimension below K was accepted";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("leading dimensions"), std::string::npos) << e.what();
  }
  bad.lda = 8;
  bad.ab = DType::i64;
  EXPECT_THROW(cuda::blas::describe(bad), std::exception);
}

}  // namespace
}  // namespace moe
