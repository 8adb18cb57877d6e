// The CUDA FP8 quantisers (core/cuda/fp8.cu) against the CPU emulation
// (core/fp8/scaling.h): codes, scales and amax bit for bit, for both formats,
// every layout of both recipes (per-tensor current and delayed, DeepSeek-V3
// tiles and blocks), both scale roundings, plain and transposed, on ragged
// shapes (edge tiles cut short, one row, one column, empty). An inf/NaN
// input gives the CPU's error through fp8_check_finite. GPU or SIMT shim.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "core/backend/fp8.h"
#include "core/cuda/blas.h"
#include "core/fp8/scaling.h"
#include "core/ops.h"
#include "tests/core/cuda_test_util.h"

namespace moe {
namespace {

using namespace cuda_test;

// Values over many binades (saturating and subnormal codes), with whole
// 128-wide tiles of zeros (scale 1) and some exact ties of the FP8 grid.
Tensor wide_range(int64_t rows, int64_t cols, uint64_t seed) {
  std::vector<double> v(static_cast<size_t>(rows * cols));
  uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
  for (size_t i = 0; i < v.size(); ++i) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    const double u = double(s >> 11) / double(1ull << 53);
    const int64_t c = int64_t(i) % (cols > 0 ? cols : 1);
    const double mag = std::ldexp(1.0 + u, int((s >> 3) % 40) - 24);
    v[i] = (c >= 128 && c < 256) ? 0.0 : ((s >> 7) & 1 ? mag : -mag);
    if (i % 97 == 5) v[i] = 0.5 + 1.0 / 16;  // a tie between two e4m3 values at scale 1
  }
  return from_vector(v, {rows, cols}, DType::f64).to(DType::f32);
}

void expect_same(const fp8::QuantizedTensor& c, const fp8::QuantizedTensor& g, const std::string& what) {
  const fp8::Quantized a = fp8::to_host(c), b = fp8::to_host(g);
  ASSERT_EQ(int(a.layout), int(b.layout)) << what;
  ASSERT_EQ(a.rows, b.rows) << what;
  ASSERT_EQ(a.cols, b.cols) << what;
  EXPECT_EQ(g.codes.dtype(), c.codes.dtype()) << what;
  EXPECT_TRUE(g.codes.device().is_cuda()) << what;
  ASSERT_EQ(a.codes.size(), b.codes.size()) << what;
  for (size_t i = 0; i < a.codes.size(); ++i)
    if (a.codes[i] != b.codes[i]) {
      ADD_FAILURE() << what << ": code " << i << " is " << int(b.codes[i]) << " on the GPU, " << int(a.codes[i])
                    << " on the CPU";
      return;
    }
  ASSERT_EQ(a.scales.size(), b.scales.size()) << what;
  for (size_t i = 0; i < a.scales.size(); ++i)
    EXPECT_EQ(std::memcmp(&a.scales[i], &b.scales[i], 4), 0)
        << what << ": scale " << i << " is " << b.scales[i] << " on the GPU, " << a.scales[i] << " on the CPU";
  EXPECT_EQ(std::memcmp(&a.amax, &b.amax, 4), 0) << what << ": amax " << b.amax << " vs " << a.amax;
}

TEST(CudaFp8, QuantiseMatchesTheCpuEmulationBitwise) {
  MOE_REQUIRE_DEVICE();
  const std::vector<std::pair<int64_t, int64_t>> shapes = {{1, 1},    {3, 130}, {129, 257}, {256, 128},
                                                           {130, 1},  {1, 300}, {0, 5}};
  const fp8::Layout layouts[] = {fp8::Layout::per_tensor, fp8::Layout::tile_1x128, fp8::Layout::block_128x128,
                                 fp8::Layout::tile_128x1};
  uint64_t seed = 1;
  for (auto [rows, cols] : shapes) {
    const Tensor x = wide_range(rows, cols, seed++), gx = to_device(x, kGpu);
    for (fp8::Format f : {fp8::Format::e4m3, fp8::Format::e5m2})
      for (bool transpose : {false, true}) {
        const std::string base = std::to_string(rows) + " x " + std::to_string(cols) + " " + fp8::format_name(f) +
                                 (transpose ? " transposed" : "");
        for (fp8::Layout l : layouts)
          for (fp8::ScaleRounding r : {fp8::ScaleRounding::none, fp8::ScaleRounding::pow2_down}) {
            const std::string what = base + " " + fp8::layout_name(l) +
                                     (r == fp8::ScaleRounding::pow2_down ? " pow2" : "");
            expect_same(backend::fp8_quantize(x, f, l, r, transpose), backend::fp8_quantize(gx, f, l, r, transpose),
                        what);
          }
        for (float scale : {1.0f, 0.37f, 3.0e4f})
          expect_same(backend::fp8_quantize_with_scale(x, f, scale, transpose),
                      backend::fp8_quantize_with_scale(gx, f, scale, transpose),
                      base + " delayed scale " + std::to_string(scale));
      }
  }
}

TEST(CudaFp8, NonFiniteInputGivesTheCpuError) {
  MOE_REQUIRE_DEVICE();
  for (double bad : {std::nan(""), double(INFINITY)}) {
    std::vector<double> v(static_cast<size_t>(6 * 200), 1.5);
    v[2 * 200 + 131] = bad;
    v[4 * 200 + 7] = bad;
    const Tensor x = from_vector(v, {6, 200}, DType::f64).to(DType::f32), gx = to_device(x, kGpu);
    std::string cpu_error;
    try {
      backend::fp8_quantize(x, fp8::Format::e4m3, fp8::Layout::tile_1x128, fp8::ScaleRounding::none, false, "act");
    } catch (const Error& e) {
      cpu_error = e.what();
    }
    ASSERT_NE(cpu_error.find("[2, 131]"), std::string::npos) << cpu_error;
    for (fp8::Layout l : {fp8::Layout::per_tensor, fp8::Layout::tile_1x128, fp8::Layout::tile_128x1}) {
      const fp8::QuantizedTensor q = backend::fp8_quantize(gx, fp8::Format::e4m3, l, fp8::ScaleRounding::none, true);
      try {
        backend::fp8_check_finite(q, gx, "act");
        ADD_FAILURE() << "no error for " << bad << " in layout " << fp8::layout_name(l);
      } catch (const Error& e) {
        EXPECT_EQ(std::string(e.what()), cpu_error);
      }
    }
    const fp8::QuantizedTensor ok =
        backend::fp8_quantize(to_device(full({2, 3}, 1.0), kGpu), fp8::Format::e4m3, fp8::Layout::per_tensor,
                              fp8::ScaleRounding::none, false);
    EXPECT_NO_THROW(backend::fp8_check_finite(ok, to_device(full({2, 3}, 1.0), kGpu), "act"));
  }
}

// A device FP8 GEMM's result against the CPU emulation's: bitwise under the
// shim (it runs the emulation's product on the device's operands), within
// 1e-5 K max|C| on a GPU (cuBLASLt's own promotion).
void expect_matches_emulation(const Tensor& cpu, const Tensor& gpu, double K, const std::string& what) {
#if defined(MOE_CUDA_SIM)
  (void)K;
  expect_bitwise(cpu, gpu, what);
#else
  double top = 0;
  for (double v : values(cpu)) top = std::max(top, std::abs(v));
  expect_within(cpu, gpu, [&](size_t) { return 1e-5 * K * top; }, what);
#endif
}

// The three GEMMs of an FP8 linear on the device against the CPU
// emulation's, for every recipe: under the SIMT shim bitwise (the shim runs
// the emulation's product on the device's codes and scales, so this checks
// the operands' K-major codes, scale grids and layouts); on a GPU (cuBLASLt,
// its own promotion) within 1e-5 K max|C| (the emulation's own bound,
// fp8/gemm_blas.h, is 2 (chunk + K/chunk) eps sum|a b| / (sA sB)). Delayed
// scaling records the same amaxes on both.
TEST(CudaFp8, LinearGemmsMatchTheCpuEmulation) {
  MOE_REQUIRE_DEVICE();
  struct Shape3 {
    int64_t M, K, N;
  };
  const std::vector<Shape3> shapes = {{1, 1, 1}, {5, 130, 7}, {129, 257, 130}, {200, 128, 64}};
  std::vector<fp8::GemmRecipe> recipes(4);
  recipes[0].scaling = fp8::Scaling::tilewise;
  recipes[1].scaling = fp8::Scaling::tilewise;
  recipes[1].rounding = fp8::ScaleRounding::pow2_down;
  recipes[1].chunk = 32;
  recipes[2].scaling = fp8::Scaling::per_tensor_current;
  recipes[3].scaling = fp8::Scaling::per_tensor_delayed;
  recipes[3].chunk = 1000;
  uint64_t seed = 40;
  for (const Shape3& sh : shapes)
    for (const fp8::GemmRecipe& r : recipes) {
      const Tensor x = sample({sh.M, sh.K}, seed++), w = sample({sh.K, sh.N}, seed++),
                   dy = sample({sh.M, sh.N}, seed++);
      const Tensor gx = to_device(x, kGpu), gw = to_device(w, kGpu), gdy = to_device(dy, kGpu);
      fp8::DelayedScaling cs(1, 4), gs(1, 4);
      for (fp8::DelayedScaling* st : {&cs, &gs}) {  // a history, so the delayed scales are not 1
        st->record(0, fp8::Role::x, 3.0f), st->record(0, fp8::Role::w, 0.5f), st->record(0, fp8::Role::dy, 7.0f);
        st->update();
      }
      const fp8::ScaleSource csrc{&cs, 0, true}, gsrc{&gs, 0, true};
      const std::string what = std::to_string(sh.M) + " x " + std::to_string(sh.K) + " x " + std::to_string(sh.N) +
                               " " + fp8::scaling_name(r.scaling) + " chunk " + std::to_string(r.chunk);
      const std::pair<Tensor, Tensor> products[] = {
          {backend::fp8_fprop(x, w, r, csrc), backend::fp8_fprop(gx, gw, r, gsrc)},
          {backend::fp8_dgrad(dy, w, r, csrc), backend::fp8_dgrad(gdy, gw, r, gsrc)},
          {backend::fp8_wgrad(x, dy, r, csrc), backend::fp8_wgrad(gx, gdy, r, gsrc)}};
      const char* names[] = {"fprop", "dgrad", "wgrad"};
      for (int i = 0; i < 3; ++i) {
        const auto& [c, g] = products[i];
        expect_matches_emulation(c, g, double(i == 0 ? sh.K : i == 1 ? sh.N : sh.M), what + " " + names[i]);
      }
      EXPECT_EQ(cs.pending(), gs.pending()) << what << ": recorded amaxes";
    }
}

// The fprop on given codes (the experts multiplying FP8-dispatched rows):
// codes of x made by the quantiser give fp8_fprop's product bitwise on the
// CPU, and the device's product of its own codes matches the CPU's as the
// linear's GEMMs do (bitwise under the shim).
TEST(CudaFp8, FpropOnGivenCodesMatchesTheCpu) {
  MOE_REQUIRE_DEVICE();
  fp8::GemmRecipe r;
  r.scaling = fp8::Scaling::tilewise;
  uint64_t seed = 90;
  for (const auto& [M, K, N] : std::vector<std::array<int64_t, 3>>{{1, 1, 1}, {5, 130, 7}, {129, 257, 130}}) {
    const Tensor x = sample({M, K}, seed++), w = sample({K, N}, seed++);
    const Tensor gx = to_device(x, kGpu), gw = to_device(w, kGpu);
    const std::string what = std::to_string(M) + " x " + std::to_string(K) + " x " + std::to_string(N);
    const fp8::QuantizedTensor cq =
        backend::fp8_quantize(x, fp8::Format::e4m3, fp8::Layout::tile_1x128, r.rounding, false);
    const fp8::QuantizedTensor gq =
        backend::fp8_quantize(gx, fp8::Format::e4m3, fp8::Layout::tile_1x128, r.rounding, false);
    const Tensor c = backend::fp8_fprop_codes(cq, w, r, {});
    EXPECT_EQ(values(c), values(backend::fp8_fprop(x, w, r, {}))) << what << " cpu";
    expect_matches_emulation(c, backend::fp8_fprop_codes(gq, gw, r, {}), double(K), what);
  }
  // Codes of another width are refused, naming the shape.
  const Tensor w = to_device(sample({64, 8}, 1), kGpu);
  const fp8::QuantizedTensor q = backend::fp8_quantize(to_device(sample({4, 32}, 2), kGpu), fp8::Format::e4m3,
                                                       fp8::Layout::tile_1x128, fp8::ScaleRounding::none, false);
  EXPECT_THROW(backend::fp8_fprop_codes(q, w, r, {}), Error);
}

// The grouped FP8 linear (the experts), its groups' GEMMs spread over the
// device's side streams, against the CPU's, forward and both gradients:
// bitwise under the shim (whose streams are asynchronous workers, so a
// missing fork or join reads unfinished rows), within the GEMMs' bound on a
// GPU. Uneven groups, an empty one; delayed scaling records the same amaxes.
TEST(CudaFp8, GroupedGemmsOnSideStreamsMatchTheCpu) {
  MOE_REQUIRE_DEVICE();
  const std::vector<int64_t> rows = {70, 0, 3, 130, 1, 40};
  const int64_t R = 244, K = 136, N = 72, G = int64_t(rows.size());
  std::vector<fp8::GemmRecipe> recipes(2);
  recipes[0].scaling = fp8::Scaling::tilewise;
  recipes[1].scaling = fp8::Scaling::per_tensor_delayed;
  uint64_t seed = 120;
  for (const fp8::GemmRecipe& r : recipes) {
    const std::string what = fp8::scaling_name(r.scaling);
    const Tensor x = sample({R, K}, seed++), w = sample({G, K, N}, seed++), dy = sample({R, N}, seed++);
    fp8::DelayedScaling cs(G, 2), gs(G, 2);
    Tensor cx = x.clone().set_requires_grad(true), cw = w.clone().set_requires_grad(true);
    Tensor gx = to_device(x, kGpu).set_requires_grad(true), gw = to_device(w, kGpu).set_requires_grad(true);
    const Tensor cy = fp8_grouped_matmul(cx, cw, rows, r, &cs);
    const Tensor gy = fp8_grouped_matmul(gx, gw, rows, r, &gs);
    sum(mul(cy, dy)).backward();
    sum(mul(gy, to_device(dy, kGpu))).backward();
    const std::pair<Tensor, Tensor> pairs[] = {{cy, gy}, {cx.grad(), gx.grad()}, {cw.grad(), gw.grad()}};
    const char* names[] = {"y", "dx", "dw"};
    for (int i = 0; i < 3; ++i) {
      const auto& [c, g] = pairs[i];
      expect_matches_emulation(c, g, double(std::max(K, R)), what + " " + names[i]);
    }
    EXPECT_EQ(cs.pending(), gs.pending()) << what;
  }
}

// Without a device: the cuBLASLt descriptors of every FP8 GEMM the linear
// runs (both formats, scalar, 1x128 and 128x128 scale modes, the three
// training GEMMs' operand layouts) are built and accepted; a mixed or
// K-varying scale pairing is refused with its layouts named.
TEST(CudaFp8, GemmDescriptorsOfEveryRecipeAreAccepted) {
  using L = fp8::Layout;
  const std::pair<L, L> pairs[] = {{L::per_tensor, L::per_tensor},
                                   {L::tile_1x128, L::block_128x128},   // fprop, dgrad
                                   {L::tile_1x128, L::tile_1x128}};     // wgrad
  for (auto [la, lb] : pairs)
    for (DType ta : {DType::f8e4m3, DType::f8e5m2})
      for (DType tb : {DType::f8e4m3, DType::f8e5m2}) {
        cuda::blas::Fp8Gemm g;
        g.M = 256, g.N = 384, g.K = 512;
        g.a_type = ta, g.b_type = tb, g.a_layout = la, g.b_layout = lb;
        EXPECT_NO_THROW(cuda::blas::describe(g)) << fp8::layout_name(la) << " x " << fp8::layout_name(lb);
      }
  cuda::blas::Fp8Gemm bad;
  bad.M = bad.N = bad.K = 128;
  bad.a_layout = L::tile_128x1;
  bad.b_layout = L::block_128x128;
  try {
    cuda::blas::describe(bad);
    ADD_FAILURE() << "a K-varying A scale was accepted";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("tile_128x1"), std::string::npos) << e.what();
  }
  bad.a_layout = L::per_tensor;
  EXPECT_THROW(cuda::blas::describe(bad), Error);
}

}  // namespace
}  // namespace moe
