// The CUDA FP8 quantisers (core/cuda/fp8.cu) against the CPU emulation
// (core/fp8/scaling.h): codes, scales and amax bit for bit, for both formats,
// every layout of both recipes (per-tensor current and delayed, DeepSeek-V3
// tiles and blocks), both scale roundings, plain and transposed, on ragged
// shapes (edge tiles cut short, one row, one column, empty). An inf/NaN
// input gives the CPU's error through fp8_check_finite. GPU or SIMT shim.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "core/backend/fp8.h"
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

}  // namespace
}  // namespace moe
