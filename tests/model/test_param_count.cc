// Analytic parameter / FLOP / memory counts, checked against sums written
// out by hand from the parameter list in model/param_count.h.
#include <gtest/gtest.h>

#include <string>

#include "model/param_count.h"
#include "model/presets.h"
#include "model/transformer.h"

namespace moe::model {
namespace {

config::ModelConfig preset(const char* name) {
  auto c = model_preset(name);
  EXPECT_TRUE(c.ok()) << c.status();
  return *c;
}

constexpr int64_t kD = 128, kV = 256, kL = 4;
constexpr int64_t kGqaAttention = 4 * kD * kD;  // wq, wk, wv, wo, 4 heads of 32
constexpr int64_t kLayerNorms = 2 * kD;
constexpr int64_t kFfn = 344, kExpertWidth = 86;
constexpr int64_t kExpert = 3 * kD * kExpertWidth;

TEST(ParamCount, DenseReference) {
  const ParamCount p = count_params(preset("dense-ref"));
  const int64_t layer = kGqaAttention + kLayerNorms + 3 * kD * kFfn;
  EXPECT_EQ(p.total_params, kL * layer + 2 * kV * kD + kD);
  EXPECT_EQ(p.total.embedding, kV * kD);
  EXPECT_EQ(p.total.head, kV * kD);
  EXPECT_EQ(p.total.norms, kL * kLayerNorms + kD);
  EXPECT_EQ(p.total.dense_ffn, kL * 3 * kD * kFfn);
  EXPECT_EQ(p.total.routed_experts + p.total.router + p.total.shared_experts, 0);
  EXPECT_EQ(p.activated_with_embedding, p.total_params);
  EXPECT_EQ(p.activated_params, p.total_params - kV * kD);
  EXPECT_EQ(p.mtp_params, 0);
}

TEST(ParamCount, TinyMoeRoutedSharedRouter) {
  const ParamCount p = count_params(preset("tiny-moe"));
  const int64_t moe = 8 * kExpert + kExpert + 8 * kD;  // routed, 1 shared, router
  EXPECT_EQ(p.total_params, kL * (kGqaAttention + kLayerNorms + moe) + 2 * kV * kD + kD);
  EXPECT_EQ(p.total.routed_experts, kL * 8 * kExpert);
  EXPECT_EQ(p.total.shared_experts, kL * kExpert);
  EXPECT_EQ(p.total.router, kL * 8 * kD);
  EXPECT_EQ(p.total.dense_ffn, 0);
  EXPECT_EQ(p.activated.routed_experts, kL * 3 * kExpert);  // top_k = 3
  EXPECT_EQ(p.activated.router, p.total.router);
  // 3 routed + 1 shared expert of 86 = the dense reference's 344 width.
  const ParamCount dense = count_params(preset("dense-ref"));
  EXPECT_EQ(p.activated.routed_experts + p.activated.shared_experts, dense.activated.dense_ffn);
}

TEST(ParamCount, MlaWithAndWithoutQueryLatent) {
  config::ModelConfig c = preset("tiny-mla-moe");
  const int64_t direct = kD * 4 * 48 + kD * (64 + 16) + 64 * 4 * (32 + 32) + 4 * 32 * kD;
  ParamCount p = count_params(c);
  EXPECT_EQ(p.total.attention, kL * direct);
  EXPECT_EQ(p.total.norms, kL * (kLayerNorms + 64) + kD);  // + kv_norm

  c.mutable_mla()->set_q_lora_rank(32);
  p = count_params(c);
  const int64_t latent = direct - kD * 4 * 48 + kD * 32 + 32 * 4 * 48;
  EXPECT_EQ(p.total.attention, kL * latent);
  EXPECT_EQ(p.total.norms, kL * (kLayerNorms + 64 + 32) + kD);  // + q_norm
}

TEST(ParamCount, GqaKvHeadsAndExplicitHeadDim) {
  config::ModelConfig c = preset("dense-ref");
  c.set_n_kv_heads(2);
  c.set_head_dim(16);
  const ParamCount p = count_params(c);
  EXPECT_EQ(p.total.attention, kL * (kD * 64 + 2 * kD * 32 + 64 * kD));
}

// Qwen3 QK-norm: q_norm and k_norm [Dh] per layer, replicated norms; the
// activations keep q and k once more (the norms' inputs).
TEST(ParamCount, GqaQkNorm) {
  config::ModelConfig base = preset("dense-ref");
  base.set_n_kv_heads(2);
  config::ModelConfig c = base;
  c.set_qk_norm(true);
  const ParamCount p = count_params(c), without = count_params(base);
  EXPECT_EQ(p.total.norms, without.total.norms + kL * 2 * 32);
  EXPECT_EQ(p.total.attention, without.total.attention);
  EXPECT_EQ(p.total_params, without.total_params + kL * 2 * 32);
  EXPECT_EQ(p.activated_params, without.activated_params + kL * 2 * 32);
  EXPECT_DOUBLE_EQ(flops_per_token(c, 64).total, flops_per_token(base, 64).total);  // norms are no matmuls
  MemoryLayout l;
  l.tp = 2;
  auto m = memory_per_rank(c, l), m0 = memory_per_rank(base, l);
  ASSERT_TRUE(m.ok() && m0.ok());
  EXPECT_EQ(m->dense_params, (p.total_params - p.total.norms) / 2 + p.total.norms);
  // Per token and layer H*Dh + Hkv*Dh = 128 + 64 more elements, f32, over tp 2.
  EXPECT_DOUBLE_EQ(m->activation_bytes - m0->activation_bytes, 64.0 * kL * (128 + 64) * 4 / 2);
}

TEST(ParamCount, FirstKDenseTiedEmbeddingsAndMtp) {
  config::ModelConfig c = preset("tiny-moe");
  c.set_first_k_dense(1);
  c.set_tie_embeddings(true);
  c.mutable_mtp()->set_depth(2);
  const ParamCount p = count_params(c);
  const int64_t moe = 9 * kExpert + 8 * kD;
  EXPECT_EQ(p.total.dense_ffn, 3 * kD * kFfn);
  EXPECT_EQ(p.total.routed_experts, 3 * 8 * kExpert);
  EXPECT_EQ(p.total.head, 0);
  // The tied table is the head: counted once, and activated either way.
  EXPECT_EQ(p.activated_params, p.activated_with_embedding);
  EXPECT_EQ(p.activated.embedding, kV * kD);
  // MTP: per depth enorm, hnorm, proj [2D, D] and an MoE block (the last layer is MoE).
  EXPECT_EQ(p.mtp_params, 2 * (2 * kD + 2 * kD * kD + kGqaAttention + kLayerNorms + moe));
  EXPECT_EQ(p.mtp_total.mtp_proj, 2 * 2 * kD * kD);
  EXPECT_EQ(p.total.mtp_proj, 0);
}

TEST(ParamCount, NoMoeWhenRoutedExpertsZero) {
  config::ModelConfig c = preset("tiny-moe");
  c.mutable_moe()->set_num_routed_experts(0);
  EXPECT_EQ(count_params(c).total_params, count_params(preset("dense-ref")).total_params);
}

// The counter against the real module tree (small configs only): the
// total, and the components recognisable by parameter name.
void expect_matches_model(const config::ModelConfig& c, const std::string& what) {
  const ParamCount p = count_params(c);
  Transformer model(c);
  EXPECT_EQ(model.num_parameters(), p.total_params + p.mtp_params) << what;
  int64_t routed = 0, router = 0, norms = 0;
  for (const Named& n : model.named_parameters()) {
    const std::string& name = n.name;
    if (name.find("experts.w") != std::string::npos) routed += n.tensor.numel();
    if (name.find("router.") != std::string::npos) router += n.tensor.numel();
    if (name.find("norm") != std::string::npos) norms += n.tensor.numel();
  }
  EXPECT_EQ(routed, p.total.routed_experts + p.mtp_total.routed_experts) << what;
  EXPECT_EQ(router, p.total.router + p.mtp_total.router) << what;
  EXPECT_EQ(norms, p.total.norms + p.mtp_total.norms) << what;
}

TEST(ParamCount, MatchesTheModel) {
  for (const char* name : {"dense-ref", "tiny-moe", "tiny-moe-sigmoid-bias", "tiny-mla-moe"})
    expect_matches_model(preset(name), name);
  config::ModelConfig c = preset("tiny-mla-moe");
  c.mutable_mla()->set_q_lora_rank(32);
  c.set_first_k_dense(1);
  c.set_tie_embeddings(true);
  c.mutable_mtp()->set_depth(2);
  c.mutable_moe()->set_num_shared_experts(2);
  expect_matches_model(c, "mla + q_lora + first_k_dense + tied + mtp");
  c = preset("dense-ref");
  c.set_n_kv_heads(2);
  c.set_head_dim(16);
  c.mutable_mtp()->set_depth(1);
  expect_matches_model(c, "gqa + head_dim + dense mtp");
  c = preset("tiny-moe");
  c.set_n_kv_heads(2);
  c.set_qk_norm(true);
  c.mutable_mtp()->set_depth(1);
  expect_matches_model(c, "gqa + qk_norm + moe mtp");
}

// Exact totals of the full-size presets (sums of the formulas; the
// published roundings are checked in test_presets.cc).
TEST(ParamCount, FullSizePresetTotals) {
  EXPECT_EQ(count_params(preset("deepseek-v3")).total_params, 671026404352);
  EXPECT_EQ(count_params(preset("deepseek-v2")).total_params, 235741434880);
  EXPECT_EQ(count_params(preset("mixtral-8x7b")).total_params, 46702792704);
  // Qwen3 with its q_norm / k_norm (94 layers x 2 x 128 = 24,064 weights):
  // the sum of the tensor shapes of the released config.json.
  EXPECT_EQ(count_params(preset("qwen3-235b-a22b")).total_params, 235093634560);
}

TEST(ParamCount, FlopsFollowSixNPlusTwelveLTD) {
  const config::ModelConfig c = preset("dense-ref");
  const ParamCount p = count_params(c);
  const FlopCount f = flops_per_token(c, 64);
  // Matmul weights: everything but norms and the embedding lookup.
  EXPECT_DOUBLE_EQ(f.matmul_params, double(p.total_params - p.total.norms - p.total.embedding));
  EXPECT_DOUBLE_EQ(f.matmul, 6 * f.matmul_params);
  // H * Dh == D here, so attention is 12 L T D.
  EXPECT_DOUBLE_EQ(f.attention, 12.0 * kL * 64 * kD);
  EXPECT_DOUBLE_EQ(f.mtp, 0);
  EXPECT_DOUBLE_EQ(f.total, f.matmul + f.attention);
}

TEST(ParamCount, FlopsSlidingWindowMlaAndMtp) {
  config::ModelConfig c = preset("dense-ref");
  c.set_sliding_window(16);
  EXPECT_DOUBLE_EQ(flops_per_token(c, 64).attention, 12.0 * kL * 16 * kD);

  config::ModelConfig m = preset("tiny-mla-moe");
  // Per head: q.k over nope + rope = 48, p.v over v = 32.
  EXPECT_DOUBLE_EQ(flops_per_token(m, 64).attention, 6.0 * kL * 64 * 4 * (48 + 32));
  const FlopCount without = flops_per_token(m, 64);
  EXPECT_DOUBLE_EQ(without.matmul_params, double(count_params(m).activated_params - count_params(m).activated.norms));
  m.mutable_mtp()->set_depth(1);
  const FlopCount with = flops_per_token(m, 64);
  const ParamCount p = count_params(m);
  const double mtp_matmul =
      double(p.mtp_params - p.mtp_activated.norms - (p.mtp_total.routed_experts - p.mtp_activated.routed_experts)) +
      double(kV * kD);
  EXPECT_DOUBLE_EQ(with.mtp, 6 * mtp_matmul + 6.0 * 64 * 4 * (48 + 32));
  EXPECT_DOUBLE_EQ(with.total, without.total + with.mtp);
}

TEST(ParamCount, MemorySingleRank) {
  const config::ModelConfig c = preset("dense-ref");
  const int64_t n = count_params(c).total_params;
  MemoryLayout l;
  l.micro_batch = 12;
  auto m = memory_per_rank(c, l);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->dense_params, n);
  EXPECT_EQ(m->expert_params, 0);
  EXPECT_DOUBLE_EQ(m->master_bytes, 4.0 * n);
  EXPECT_DOUBLE_EQ(m->grad_bytes, 4.0 * n);
  EXPECT_DOUBLE_EQ(m->optimizer_bytes, 8.0 * n);
  EXPECT_DOUBLE_EQ(m->compute_copy_bytes, 0);
  // Per token: 4 layers x (4D + H + 2*H*Dh + 2*Hkv*Dh + 4F) + D + 2V, f32.
  const double per_token = kL * (4 * kD + 4 + 4 * kD + 4 * kFfn) + kD + 2 * kV;
  EXPECT_DOUBLE_EQ(m->activation_bytes, 12.0 * 64 * per_token * 4);
  EXPECT_DOUBLE_EQ(m->total_bytes(), 16.0 * n + m->activation_bytes);
}

TEST(ParamCount, MemoryShardsExpertsAndOptimizerState) {
  const config::ModelConfig c = preset("tiny-moe");
  const ParamCount p = count_params(c);
  MemoryLayout l;
  l.dp = 4;
  l.ep = 2;
  l.zero1 = true;
  l.bf16_compute_copy = true;
  auto m = memory_per_rank(c, l);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->expert_params, p.total.routed_experts / 2);
  EXPECT_EQ(m->dense_params, p.total_params - p.total.routed_experts);
  // Dense states over dp = 4 replicas, expert states over dp*tp/ep = 2.
  EXPECT_DOUBLE_EQ(m->optimizer_bytes, 8.0 * (m->dense_params / 4.0 + m->expert_params / 2.0));
  EXPECT_DOUBLE_EQ(m->compute_copy_bytes, 2.0 * (m->dense_params + m->expert_params));
}

TEST(ParamCount, MemoryBf16MomentsHalveTheOptimizerState) {
  const config::ModelConfig d = preset("dense-ref");
  const int64_t n = count_params(d).total_params;
  MemoryLayout l;
  l.bf16_moments = true;
  auto m = memory_per_rank(d, l);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_DOUBLE_EQ(m->optimizer_bytes, 4.0 * n);  // m, v: 2 bytes each
  EXPECT_DOUBLE_EQ(m->master_bytes, 4.0 * n);     // master weights stay f32
  EXPECT_DOUBLE_EQ(m->total_bytes(), 12.0 * n + m->activation_bytes);
  // Sharded by ZeRO-1 as the f32 moments are.
  const config::ModelConfig c = preset("tiny-moe");
  l.dp = 4;
  l.ep = 2;
  l.zero1 = true;
  m = memory_per_rank(c, l);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_DOUBLE_EQ(m->optimizer_bytes, 4.0 * (m->dense_params / 4.0 + m->expert_params / 2.0));
}

TEST(ParamCount, MemoryTensorParallelKeepsNormsAndRouterWhole) {
  const config::ModelConfig c = preset("tiny-moe");
  const ParamCount p = count_params(c);
  MemoryLayout l;
  l.tp = 2;
  auto m = memory_per_rank(c, l);
  ASSERT_TRUE(m.ok()) << m.status();
  const int64_t replicated = p.total.norms + p.total.router;
  EXPECT_EQ(m->dense_params, (p.total_params - p.total.routed_experts - replicated) / 2 + replicated);
}

TEST(ParamCount, MemoryRejectsBadLayouts) {
  const config::ModelConfig c = preset("tiny-moe");
  auto expect_error = [&](MemoryLayout l, const char* what) {
    auto m = memory_per_rank(c, l);
    ASSERT_FALSE(m.ok()) << what;
    EXPECT_NE(m.status().message().find(what), std::string::npos) << m.status();
  };
  MemoryLayout l;
  l.ep = 3;
  l.dp = 3;
  expect_error(l, "model.moe.num_routed_experts");
  l = MemoryLayout();
  l.ep = 2;
  expect_error(l, "dp x tp");
  l = MemoryLayout();
  l.tp = 3;
  expect_error(l, "model.n_heads");
  l = MemoryLayout();
  l.dp = 0;
  expect_error(l, "layout.dp");
}

}  // namespace
}  // namespace moe::model
