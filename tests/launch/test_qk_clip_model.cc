// MuonClip end to end on GQA and MLA attention layers: after qk_clip the
// same input's largest logit per clipped head equals the threshold; the
// other heads, and MLA's shared rotary key, are untouched.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <string>

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

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && std::memcmp(a.raw_data(), b.raw_data(), size_t(a.numel()) * sizeof(float)) == 0;
}

Tensor param(const Module& m, const std::string& name) {
  for (const Named& p : m.named_parameters())
    if (p.name == name) return p.tensor;
  ADD_FAILURE() << "no parameter " << name;
  return Tensor();
}

config::ModelConfig mla(int64_t q_lora) {
  config::ModelConfig c;
  c.set_d_model(16);
  c.set_n_heads(4);
  c.set_attention(config::ATTENTION_MLA);
  c.set_rope_convention(config::ROPE_INTERLEAVED);
  c.set_init_std(0.8);  // large weights: large logits
  auto* m = c.mutable_mla();
  m->set_q_lora_rank(q_lora);
  m->set_kv_lora_rank(8);
  m->set_qk_nope_head_dim(4);
  m->set_qk_rope_head_dim(4);
  m->set_v_head_dim(3);
  return c;
}

// Kimi K2's MLA rule, with and without a query latent: a clipped head's max
// logit lands on the threshold within f32 rounding (measured: 0 to 7e-8
// relative); the other heads' query/key columns, every value column and
// W_kv_a (the shared rotary key and the latent) keep their bits, and so do
// the unclipped heads' logits.
TEST(QkClipModel, MlaClippedHeadsLandOnTheThreshold) {
  for (int64_t q_lora : {0, 6}) {
    SCOPED_TRACE("q_lora_rank " + std::to_string(q_lora));
    const config::ModelConfig c = mla(q_lora);
    MlaAttention attn(c, 0.1);
    attn.init_parameters(5);
    attn.set_record_max_logits(true);
    const Tensor x = randn({2, 6, 16}, 4);
    attn.forward(x);
    const std::vector<double> before = attn.max_logits();
    ASSERT_EQ(before.size(), 4u);
    std::vector<double> sorted = before;
    std::sort(sorted.begin(), sorted.end());
    const double threshold = 0.5 * (sorted[1] + sorted[2]);  // two heads clipped, two not
    ASSERT_GT(threshold, 0);
    Tensor wq = attn.query_heads().weight(), wkv_b = attn.wkv_b().weight();
    const Tensor wq0 = wq.clone(), wkv_b0 = wkv_b.clone(), wkv_a0 = param(attn, "wkv_a.weight").clone();
    optim::qk_clip_mla(wq, wkv_b, attn.heads(), {attn.nope_dim(), attn.rope_dim(), attn.v_dim()}, before, threshold);
    EXPECT_TRUE(same_bits(param(attn, "wkv_a.weight"), wkv_a0));
    const int64_t qw = attn.nope_dim() + attn.rope_dim(), kvw = attn.nope_dim() + attn.v_dim();
    for (int64_t h = 0; h < 4; ++h) {
      const bool clipped = before[size_t(h)] > threshold;
      EXPECT_EQ(same_bits(narrow(wq, 1, h * qw, qw).contiguous(), narrow(wq0, 1, h * qw, qw).contiguous()), !clipped)
          << h;
      EXPECT_EQ(same_bits(narrow(wkv_b, 1, h * kvw, attn.nope_dim()).contiguous(),
                          narrow(wkv_b0, 1, h * kvw, attn.nope_dim()).contiguous()),
                !clipped)
          << h;
      EXPECT_TRUE(same_bits(narrow(wkv_b, 1, h * kvw + attn.nope_dim(), attn.v_dim()).contiguous(),
                            narrow(wkv_b0, 1, h * kvw + attn.nope_dim(), attn.v_dim()).contiguous()))
          << "values of head " << h;
    }
    attn.reset_max_logits();
    attn.forward(x);
    const std::vector<double> after = attn.max_logits();
    for (size_t h = 0; h < 4; ++h) {
      if (before[h] > threshold) EXPECT_NEAR(after[h], threshold, 1e-6 * threshold) << h;  // ~8 f32 ulps
      else EXPECT_EQ(after[h], before[h]) << h;
    }
  }
}

}  // namespace
}  // namespace moe::model
