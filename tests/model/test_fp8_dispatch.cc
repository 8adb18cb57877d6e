// FP8 dispatch (model.fp8.dispatch): the rows the experts receive are exactly
// the E4M3 1x128-tile quantise-dequantise of the rows sent (one rank and EP),
// the wire carries 1-byte codes + f32 tile scales, and backward is
// straight-through (the gradient of the f32 dispatch, bit for bit).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/fp8/scaling.h"
#include "core/ops.h"
#include "core/phase_timer.h"
#include "model/dispatcher.h"
#include "model/ep_dispatcher.h"
#include "model/fp8_dispatch.h"
#include "tests/mpi_test_util.h"

namespace moe::model {
namespace {

constexpr int64_t kD = 160;  // two tiles per row: 128 channels and a ragged 32

bool same_bits(const Tensor& a, const Tensor& b) {
  const Tensor x = contiguous(a.detach()), y = contiguous(b.detach());
  return x.shape() == y.shape() && x.dtype() == y.dtype() &&
         std::memcmp(x.raw_data(), y.raw_data(), size_t(x.numel()) * dtype_size(x.dtype())) == 0;
}

// Rows with a per-row scale spread of 1e-3..1e3 and one outlier channel in
// the first tile of row 1, so that tiles get different scales.
Tensor rows_of(int64_t n, uint64_t seed) {
  Tensor x = randn({n, kD}, seed);
  std::vector<double> s(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) s[size_t(i)] = std::pow(10.0, double(i % 7) - 3.0);
  x = mul(x, from_vector(s, {n, 1}));
  if (n > 1) {
    Tensor outlier = x.narrow(0, 1, 1).narrow(1, 5, 1);
    fill_(outlier, 300.0);
  }
  return contiguous(x);
}

// The reference: core/fp8 applied directly to the rows.
Tensor quant_dequant(const Tensor& x) {
  const fp8::Quantized q = fp8::quantize(contiguous(x), fp8::Format::e4m3, fp8::Layout::tile_1x128);
  const std::vector<float> v = fp8::dequantize(q);
  Tensor out = empty(x.shape());
  std::memcpy(out.raw_data(), v.data(), v.size() * sizeof(float));
  return out;
}

// Dropless top-2 plan over E experts: token t goes to experts (3t) % E and (3t + 1) % E.
DispatchPlan plan_for(int64_t n, int64_t experts, uint64_t salt) {
  std::vector<int32_t> sel(size_t(2 * n));
  std::vector<float> aff(sel.size(), 0.5f);
  std::vector<int64_t> key(static_cast<size_t>(n));
  for (int64_t t = 0; t < n; ++t) {
    sel[size_t(2 * t)] = int32_t((3 * t + salt) % experts);
    sel[size_t(2 * t + 1)] = int32_t((3 * t + salt + 1) % experts);
    key[size_t(t)] = t;
  }
  return plan_dispatch(config::MoeConfig(), {n, 2, experts, 1, sel.data(), aff.data(), key.data(), nullptr});
}

TEST(Fp8Dispatch, WireFormatIsOneByteCodesPlusTileScales) {
  const Tensor x = rows_of(5, 1);
  const Fp8Rows q = quantize_rows(x);
  EXPECT_EQ(q.codes.dtype(), DType::f8e4m3);
  EXPECT_EQ(q.codes.shape(), (Shape{5, kD}));
  EXPECT_EQ(q.scales.dtype(), DType::f32);
  EXPECT_EQ(q.scales.shape(), (Shape{5, 2}));
  // Row 1's first tile holds the outlier: scale 448 / 300.
  EXPECT_FLOAT_EQ(q.scales.data<float>()[2], 448.0f / 300.0f);
  EXPECT_TRUE(same_bits(dequantize_rows(q, DType::f32), quant_dequant(x)));
  EXPECT_EQ(fp8_row_bytes(kD), 160 + 2 * 4);
  EXPECT_EQ(fp8_row_bytes(7168), 7168 + 56 * 4);  // DeepSeek-V3's d_model: 0.258 of its 28672 f32 bytes
  const Fp8Rows none = quantize_rows(empty({0, kD}));
  EXPECT_EQ(none.scales.shape(), (Shape{0, 2}));
  EXPECT_EQ(dequantize_rows(none, DType::f32).shape(), (Shape{0, kD}));
}

TEST(Fp8Dispatch, OneRankRowsAreTheQuantiseDequantiseOfTheInput) {
  const int64_t n = 12, experts = 4;
  const DispatchPlan plan = plan_for(n, experts, 0);
  Tensor x = rows_of(n, 2).set_requires_grad(true);
  Tensor y = x.detach().clone().set_requires_grad(true);
  LocalDispatcher fp8_on(true), fp8_off(false);
  const Dispatched d = fp8_on.dispatch(x, plan), e = fp8_off.dispatch(y, plan);
  std::vector<double> idx(plan.tokens.begin(), plan.tokens.end());
  const Tensor sent = index_select(x.detach(), 0, from_vector(idx, {int64_t(idx.size())}, DType::i64));
  ASSERT_EQ(d.rows.shape(), (Shape{2 * n, kD}));
  EXPECT_TRUE(same_bits(d.rows, quant_dequant(sent)));
  EXPECT_FALSE(same_bits(d.rows, e.rows));  // the quantisation is on
  // The codes the experts multiply are the rows' own.
  const Fp8Rows q = quantize_rows(sent);
  EXPECT_TRUE(same_bits(d.codes.codes, q.codes));
  EXPECT_TRUE(same_bits(d.codes.scales, q.scales));
  // E4M3 keeps 4 significant bits: each value within 2^-4 of itself (normal
  // range) or, below the normal range, half a subnormal step 2^-10 of the
  // scaled tile (scale 448 / tile amax).
  const float* got = d.rows.data<float>();
  const float* exact = e.rows.data<float>();
  for (int64_t i = 0; i < 2 * n; ++i)
    for (int64_t t = 0; t < kD; t += 128) {
      const int64_t end = std::min(t + 128, kD);
      double tile_amax = 0;
      for (int64_t j = t; j < end; ++j) tile_amax = std::max(tile_amax, std::fabs(double(exact[i * kD + j])));
      for (int64_t j = t; j < end; ++j) {
        const double v = exact[i * kD + j], err = std::fabs(double(got[i * kD + j]) - v);
        EXPECT_LE(err, (std::fabs(v) / 16 + tile_amax / 448 / 1024) * (1 + 1e-6)) << "row " << i << " col " << j;
      }
    }
  // Straight-through: the gradient is the f32 dispatch's, bit for bit.
  const Tensor w = randn({2 * n, kD}, 3);
  sum(mul(d.rows, w)).backward();
  sum(mul(e.rows, w)).backward();
  EXPECT_TRUE(same_bits(x.grad(), y.grad()));
}

// EP over the world: every rank's arrived rows are the quantise-dequantise
// of what its peers sent (= the f32 dispatch of the quantise-dequantised
// input, row by row), the bytes charged to the dispatch phase are codes +
// scales of the rows that leave the rank, and the gradient is the f32
// dispatch's.
TEST(MpiFp8Dispatch, ArrivedRowsBytesAndGradient) {
  MOE_REQUIRE_MIN_RANKS(2);
  comm::Communicator& world = test::test_world();
  const int P = world.size();
  const int64_t n = 10, experts = 2 * P;
  const DispatchPlan plan = plan_for(n, experts, uint64_t(world.rank()));
  Tensor x = rows_of(n, 10 + uint64_t(world.rank())).set_requires_grad(true);
  Tensor y = x.detach().clone().set_requires_grad(true);
  EpDispatcher fp8_on(world, experts, true), fp8_off(world, experts, false);

  prof::set_enabled(true);
  prof::reset();
  const Dispatched d = fp8_on.dispatch(x, plan);
  const int64_t fp8_bytes = prof::snapshot().bytes[int(prof::Phase::dispatch)];
  prof::reset();
  const Dispatched e = fp8_off.dispatch(y, plan);
  const int64_t f32_bytes = prof::snapshot().bytes[int(prof::Phase::dispatch)];
  prof::set_enabled(false);

  const Dispatched r = fp8_off.dispatch(quant_dequant(x.detach()), plan);
  EXPECT_TRUE(same_bits(d.rows, r.rows));
  EXPECT_FALSE(same_bits(d.rows, e.rows));
  EXPECT_EQ(d.local_rows, e.local_rows);
  // The arrived codes, permuted with the rows: the experts' GEMM operand.
  ASSERT_TRUE(d.codes.defined());
  EXPECT_EQ(d.codes.codes.dtype(), DType::f8e4m3);
  EXPECT_TRUE(same_bits(dequantize_rows(d.codes, DType::f32), d.rows));
  EXPECT_FALSE(e.codes.defined());

  // Rows to peers: experts [2p, 2p + 2) live on rank p.
  int64_t leaving = 0;
  for (int64_t ex = 0; ex < experts; ++ex)
    if (ex / 2 != world.rank()) leaving += plan.expert_rows[size_t(ex)];
  ASSERT_GT(leaving, 0);
  EXPECT_EQ(f32_bytes, leaving * kD * 4);
  EXPECT_EQ(fp8_bytes, leaving * (kD + 2 * 4));  // 168 of 640 bytes per row

  const Tensor w = randn({d.rows.size(0), kD}, 20 + uint64_t(world.rank()));
  sum(mul(d.rows, w)).backward();
  sum(mul(e.rows, w)).backward();
  EXPECT_TRUE(same_bits(x.grad(), y.grad()));
}

}  // namespace
}  // namespace moe::model
