// MuonClip end to end on a GQA attention layer: the recorded per-head max
// logits are exact, and after qk_clip the same input's largest logit per
// clipped head equals the threshold.
#include <gtest/gtest.h>

#include "core/ops.h"
#include "model/attention.h"
#include "optim/qk_clip.h"

namespace moe::model {
namespace {

TEST(QkClipModel, ClippedHeadsLandOnTheThreshold) {
  config::ModelConfig c;
  c.set_d_model(16);
  c.set_n_heads(4);
  c.set_n_kv_heads(2);
  c.set_init_std(0.8);  // large weights: large logits
  GqaAttention attn(c, 0.1);
  attn.init_parameters(3);
  attn.set_record_max_logits(true);
  const Tensor x = randn({2, 6, 16}, 4);
  attn.forward(x);
  const std::vector<double> before = attn.max_logits();
  ASSERT_EQ(before.size(), 4u);
  const double threshold = *std::min_element(before.begin(), before.end()) + 0.5;
  int clipped = 0;
  for (double m : before) clipped += m > threshold;
  ASSERT_GT(clipped, 0);
  Tensor wq = attn.wq().weight(), wk = attn.wk().weight();
  optim::qk_clip(wq, wk, attn.heads(), attn.head_dim(), attn.head_dim(), before, threshold);
  attn.reset_max_logits();
  attn.forward(x);
  const std::vector<double> after = attn.max_logits();
  for (size_t h = 0; h < 4; ++h) {
    if (before[h] > threshold) EXPECT_NEAR(after[h], threshold, 1e-4 * threshold) << h;
    else EXPECT_FLOAT_EQ(float(after[h]), float(before[h])) << h;
  }
}

}  // namespace
}  // namespace moe::model
