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

TEST(CudaGemm, GroupedProductsWithEmptyAndOneRowGroupsMatchTheCpu) {
  MOE_REQUIRE_DEVICE();
  const int64_t K = 12, N = 7;
  std::vector<backend::MatmulJob> cj, gj;
  std::vector<Tensor> as, bs;
  for (int64_t rows : {int64_t(5), int64_t(0), int64_t(1), int64_t(17), int64_t(0)}) {
    const Tensor a = sample({rows, K}, uint64_t(20 + rows)), b = sample({K, N}, uint64_t(40 + rows));
    as.push_back(a);
    bs.push_back(b);
    cj.push_back({a, b, empty({rows, N})});
    gj.push_back({to_device(a, kGpu), to_device(b, kGpu), empty({rows, N}, DType::f32, kGpu)});
  }
  backend::matmul_each(cj, MatmulPrecision::fp32);
  backend::matmul_each(gj, MatmulPrecision::fp32);
  for (size_t i = 0; i < cj.size(); ++i)
    expect_product(as[i], bs[i], cj[i].out, gj[i].out, K, eps_of(DType::f32), "group " + std::to_string(i));
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
