// Philox4x32-10 known-answer vectors (Random123 kat_vectors) and the
// thread-count independence of random tensors.
#include <gtest/gtest.h>

#include "core/ops.h"
#include "core/threading.h"
#include "core/random.h"

namespace moe {
namespace {

uint64_t join(uint32_t lo, uint32_t hi) { return uint64_t(lo) | (uint64_t(hi) << 32); }

TEST(Philox, KnownAnswerVectors) {
  // counter (c0..c3) = (offset lo, offset hi, stream lo, stream hi); key = seed.
  auto r = philox::philox4x32_10(0, 0, 0);
  EXPECT_EQ(r.x[0], 0x6627e8d5u);
  EXPECT_EQ(r.x[1], 0xe169c58du);
  EXPECT_EQ(r.x[2], 0xbc57ac4cu);
  EXPECT_EQ(r.x[3], 0x9b00dbd8u);
  r = philox::philox4x32_10(~0ull, ~0ull, ~0ull);
  EXPECT_EQ(r.x[0], 0x408f276du);
  EXPECT_EQ(r.x[1], 0x41c83b0eu);
  EXPECT_EQ(r.x[2], 0xa20bc7c6u);
  EXPECT_EQ(r.x[3], 0x6d5451fdu);
  r = philox::philox4x32_10(join(0xa4093822, 0x299f31d0), join(0x13198a2e, 0x03707344),
                            join(0x243f6a88, 0x85a308d3));
  EXPECT_EQ(r.x[0], 0xd16cfe09u);
  EXPECT_EQ(r.x[1], 0x94fdccebu);
  EXPECT_EQ(r.x[2], 0x5001e420u);
  EXPECT_EQ(r.x[3], 0x24126ea1u);
}

TEST(Philox, RandomTensorsIndependentOfThreads) {
  set_num_threads(1);
  std::vector<double> a = randn({100003}, 42, 5).to_vector();
  std::vector<double> u1 = rand({100003}, 42, 5).to_vector();
  set_num_threads(2);
  std::vector<double> b = randn({100003}, 42, 5).to_vector();
  std::vector<double> u2 = rand({100003}, 42, 5).to_vector();
  EXPECT_EQ(a, b);
  EXPECT_EQ(u1, u2);
  // Element i depends only on (seed, stream, i): a prefix matches a shorter tensor.
  std::vector<double> head = randn({10}, 42, 5).to_vector();
  EXPECT_TRUE(std::equal(head.begin(), head.end(), a.begin()));
  EXPECT_NE(randn({10}, 42, 6).to_vector(), head);
  EXPECT_NE(randn({10}, 43, 5).to_vector(), head);
}

TEST(Philox, Moments) {
  std::vector<double> n = randn({200000}, 1, 0, DType::f64).to_vector();
  std::vector<double> u = rand({200000}, 1, 0, DType::f64).to_vector();
  double m = 0, v = 0, mu = 0, lo = 1, hi = 0;
  for (double x : n) m += x;
  m /= double(n.size());
  for (double x : n) v += (x - m) * (x - m);
  v /= double(n.size());
  for (double x : u) {
    mu += x;
    lo = std::min(lo, x);
    hi = std::max(hi, x);
  }
  mu /= double(u.size());
  EXPECT_NEAR(m, 0.0, 0.01);
  EXPECT_NEAR(v, 1.0, 0.01);
  EXPECT_NEAR(mu, 0.5, 0.005);
  EXPECT_GE(lo, 0.0);
  EXPECT_LT(hi, 1.0);
}

}  // namespace
}  // namespace moe
