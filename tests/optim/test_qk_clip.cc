#include "optim/qk_clip.h"

#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "test_util.h"

namespace moe::optim {
namespace {

using testing::floats;
using testing::param;

// D = 2 inputs, 2 heads of 2 columns: head 0 = columns 0-1, head 1 = 2-3.
// S_max = {50, 200}, threshold 100: head 0 stays, head 1 has gamma = 0.5 and
// its q and k columns are scaled by sqrt(0.5) = 0.70710678.
TEST(QkClip, ScalesOnlyHeadsOverThreshold) {
  Tensor wq = param({1, 2, 3, 4, 5, 6, 7, 8}, {2, 4});
  Tensor wk = param({-1, -2, -3, -4, 2, 2, 2, 2}, {2, 4});
  qk_clip(wq, wk, 2, 2, 2, {50, 200}, 100);
  const float r = 0.70710678f;
  const auto q = floats(wq), k = floats(wk);
  const std::vector<float> want_q = {1, 2, 3 * r, 4 * r, 5, 6, 7 * r, 8 * r};
  const std::vector<float> want_k = {-1, -2, -3 * r, -4 * r, 2, 2, 2 * r, 2 * r};
  for (size_t i = 0; i < 8; ++i) {
    EXPECT_NEAR(q[i], want_q[i], 1e-6) << i;
    EXPECT_NEAR(k[i], want_k[i], 1e-6) << i;
  }
}

// The clipped head's logits shrink by exactly gamma: for x = [1, 1],
// q_1 = x Wq[:, 2:4] = [10, 12], k_1 = x Wk[:, 2:4] = [-1, -2],
// q.k = -34 before, -17 after.
TEST(QkClip, LogitScalesByGamma) {
  Tensor wq = param({1, 2, 3, 4, 5, 6, 7, 8}, {2, 4});
  Tensor wk = param({-1, -2, -3, -4, 2, 2, 2, 2}, {2, 4});
  qk_clip(wq, wk, 2, 2, 2, {50, 200}, 100);
  const auto q = floats(wq), k = floats(wk);
  const double logit = (q[2] + q[6]) * (k[2] + k[6]) + (q[3] + q[7]) * (k[3] + k[7]);
  EXPECT_NEAR(logit, -17.0, 1e-5);
}

// GQA: 4 query heads of 1 column share 2 key heads of 1 column (heads 0, 1
// use key 0; heads 2, 3 key 1). S_max = {150, 50, 50, 400}, threshold 100:
// head 0's query column takes gamma = 2/3, head 3's gamma = 1/4; keys stay.
TEST(QkClip, GqaScalesQueriesOnly) {
  Tensor wq = param({1, 1, 1, 1, 3, 3, 3, 3}, {2, 4});
  Tensor wk = param({5, 6, 7, 8}, {2, 2});
  qk_clip(wq, wk, 4, 1, 1, {150, 50, 50, 400}, 100);
  const auto q = floats(wq);
  const std::vector<float> want = {2.0f / 3, 1, 1, 0.25f, 2, 3, 3, 0.75f};
  for (size_t i = 0; i < 8; ++i) EXPECT_NEAR(q[i], want[i], 1e-6) << i;
  EXPECT_EQ(floats(wk), (std::vector<float>{5, 6, 7, 8}));
}

// MLA, 2 heads of nope 1, rope 2, v 1 on D = 2 inputs: wq columns per head
// [q_C | q_R q_R], wkv_b columns per head [k_C | v]. S_max = {50, 200},
// threshold 100: head 1 has gamma = 0.5: q_C and k_C take sqrt(0.5), q_R
// takes 0.5, its value column and all of head 0 stay bit for bit.
TEST(QkClip, MlaScalesContentBySqrtGammaAndRotaryQueryByGamma) {
  Tensor wq = param({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, {2, 6});
  Tensor wkv_b = param({1, 2, 3, 4, 5, 6, 7, 8}, {2, 4});
  qk_clip_mla(wq, wkv_b, 2, {1, 2, 1}, {50, 200}, 100);
  const float r = float(std::sqrt(0.5));
  const std::vector<float> want_q = {1, 2, 3, 4 * r, 5 * 0.5f, 6 * 0.5f, 7, 8, 9, 10 * r, 11 * 0.5f, 12 * 0.5f};
  const std::vector<float> want_kv = {1, 2, 3 * r, 4, 5, 6, 7 * r, 8};
  EXPECT_EQ(floats(wq), want_q);
  EXPECT_EQ(floats(wkv_b), want_kv);
}

// The clipped head's logit q_C.k_C + q_R.k_R scales by exactly gamma when
// k_R (shared, not in these weights) is left alone: x = [1, 1], k_R = [1, -1].
TEST(QkClip, MlaLogitScalesByGamma) {
  Tensor wq = param({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, {2, 6});
  Tensor wkv_b = param({1, 2, 3, 4, 5, 6, 7, 8}, {2, 4});
  auto head1_logit = [&] {
    const auto q = floats(wq), kv = floats(wkv_b);
    const double q_c = q[3] + q[9], q_r0 = q[4] + q[10], q_r1 = q[5] + q[11], k_c = kv[2] + kv[6];
    return q_c * k_c + q_r0 * 1 + q_r1 * -1;
  };
  const double before = head1_logit();
  qk_clip_mla(wq, wkv_b, 2, {1, 2, 1}, {50, 200}, 100);
  EXPECT_NEAR(head1_logit(), 0.5 * before, 1e-5 * std::abs(before));
}

TEST(QkClip, MlaOffAndBadArguments) {
  Tensor wq = param({1, 2, 3, 4, 5, 6}, {1, 6}), wkv_b = param({1, 2, 3, 4}, {1, 4});
  qk_clip_mla(wq, wkv_b, 2, {1, 2, 1}, {1e9, 1e9}, 0);  // threshold 0: off
  qk_clip_mla(wq, wkv_b, 2, {1, 2, 1}, {100, 99}, 100);  // at or under the threshold: untouched
  EXPECT_EQ(floats(wq), (std::vector<float>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(floats(wkv_b), (std::vector<float>{1, 2, 3, 4}));
  EXPECT_THROW(qk_clip_mla(wq, wkv_b, 2, {1, 2, 1}, {1}, 10), Error);        // one logit for two heads
  EXPECT_THROW(qk_clip_mla(wq, wkv_b, 2, {2, 2, 1}, {1, 1}, 10), Error);     // 2 x 4 != 6 query columns
  EXPECT_THROW(qk_clip_mla(wq, wkv_b, 2, {1, 2, 2}, {1, 1}, 10), Error);     // 2 x 3 != 4 key/value columns
  EXPECT_THROW(qk_clip_mla(wq, wkv_b, 2, {1, 0, 1}, {1, 1}, 10), Error);     // no rotary part
}

TEST(QkClip, OffAndBadArguments) {
  Tensor wq = param({1, 2, 3, 4}, {1, 4}), wk = param({1, 2, 3, 4}, {1, 4});
  qk_clip(wq, wk, 2, 2, 2, {1e9, 1e9}, 0);  // threshold 0: off
  EXPECT_EQ(floats(wq), (std::vector<float>{1, 2, 3, 4}));
  qk_clip(wq, wk, 2, 2, 2, {100, 99}, 100);  // at the threshold: untouched
  EXPECT_EQ(floats(wq), (std::vector<float>{1, 2, 3, 4}));
  EXPECT_THROW(qk_clip(wq, wk, 2, 2, 2, {1}, 10), Error);     // one logit for two heads
  EXPECT_THROW(qk_clip(wq, wk, 3, 2, 2, {1, 1, 1}, 10), Error);  // 3 x 2 != 4 columns
  Tensor wk3 = param({1, 2, 3}, {1, 3});
  EXPECT_THROW(qk_clip(wq, wk3, 2, 2, 2, {1, 1}, 10), Error);  // not whole key heads
  Tensor wk6 = param({1, 2, 3, 4, 5, 6}, {1, 6});
  EXPECT_THROW(qk_clip(wq, wk6, 2, 2, 2, {1, 1}, 10), Error);  // 3 key heads for 2 query heads
}

}  // namespace
}  // namespace moe::optim
