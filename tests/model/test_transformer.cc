// The whole model, gradient-checked in f64 for each attention kind with MoE
// FFNs and MTP, plus structure checks (names, tying, dense-then-MoE layers).
#include <gtest/gtest.h>

#include <string>

#include "core/ops.h"
#include "model/transformer.h"
#include "tests/model/grad_check.h"

namespace moe::model {
namespace {

config::ModelConfig tiny(config::AttentionKind kind) {
  config::ModelConfig c;
  c.set_vocab_size(11);
  c.set_d_model(8);
  c.set_n_layers(2);
  c.set_n_heads(2);
  c.set_n_kv_heads(1);
  c.set_max_seq_len(8);
  c.set_ffn_dim(12);
  c.set_init_std(0.3);
  c.set_attention(kind);
  c.set_first_k_dense(1);
  auto* mla = c.mutable_mla();
  mla->set_q_lora_rank(6);
  mla->set_kv_lora_rank(4);
  mla->set_qk_nope_head_dim(4);
  mla->set_qk_rope_head_dim(2);
  mla->set_v_head_dim(3);
  auto* m = c.mutable_moe();
  m->set_num_routed_experts(4);
  m->set_expert_ffn_dim(6);
  m->set_top_k(2);
  m->set_num_groups(2);
  m->set_top_k_groups(1);
  m->set_expert_balance_coef(0.1);
  m->set_z_loss_coef(0.01);
  c.mutable_mtp()->set_depth(1);
  c.mutable_mtp()->set_weight(0.3);
  return c;
}

// Norm weights start at 1; spread them so that the check sees a general point.
void spread_norm_weights(Transformer& m) {
  for (const Named& p : m.named_parameters()) {
    if (p.name.find("norm") == std::string::npos) continue;
    double* w = p.tensor.data<double>();
    for (int64_t i = 0; i < p.tensor.numel(); ++i) w[i] = 0.7 + 0.1 * double(i % 7);
  }
}

void grad_check(const config::ModelConfig& c) {
  Transformer m(c);
  m.cast_parameters(DType::f64);
  spread_norm_weights(m);
  const Tensor ids = from_vector({1, 5, 3, 7, 2, 9, 4, 0, 3, 3, 8, 6}, {2, 6}, DType::i64);
  const Tensor tgt = from_vector({5, 3, 7, 2, 9, 4, 0, 3, 3, 8, 6, 1}, {2, 6}, DType::i64);
  std::vector<Tensor> leaves;
  for (const Named& p : m.named_parameters()) leaves.push_back(p.tensor);
  auto loss = [&] { return m.loss(ids, tgt).total; };
  EXPECT_LE(test::max_grad_error(loss, leaves, 12), 1e-6);
  const LossParts p = m.loss(ids, tgt);
  EXPECT_TRUE(p.mtp.defined());
  EXPECT_TRUE(p.aux.expert.defined());
  EXPECT_TRUE(p.aux.z.defined());
  EXPECT_NEAR(p.total.item(), p.lm.item() + p.mtp.item() + p.aux.expert.item() + p.aux.z.item(), 1e-12);
}

TEST(TransformerGrad, GqaMoeMtp) { grad_check(tiny(config::ATTENTION_GQA)); }
TEST(TransformerGrad, MlaMoeMtp) { grad_check(tiny(config::ATTENTION_MLA)); }
TEST(TransformerGrad, GqaQkNormMoeMtp) {
  config::ModelConfig c = tiny(config::ATTENTION_GQA);
  c.set_qk_norm(true);
  grad_check(c);
}

// qk_norm adds one q_norm and one k_norm [head_dim] per attention layer
// (MTP blocks included).
TEST(Transformer, QkNormParameters) {
  config::ModelConfig c = tiny(config::ATTENTION_GQA);
  c.set_qk_norm(true);
  Transformer m(c);
  int found = 0;
  for (const Named& p : m.named_parameters()) {
    if (p.name.find("q_norm") == std::string::npos && p.name.find("k_norm") == std::string::npos) continue;
    EXPECT_EQ(p.tensor.shape(), (Shape{4})) << p.name;  // head_dim = 8 / 2
    EXPECT_EQ(p.shard.cls, parallel::ParamClass::replicated) << p.name;
    ++found;
  }
  EXPECT_EQ(found, 2 * 3);  // 2 layers + 1 MTP block
  EXPECT_EQ(m.num_parameters(), Transformer(tiny(config::ATTENTION_GQA)).num_parameters() + 3 * 2 * 4);
}

TEST(Transformer, StructureAndNames) {
  config::ModelConfig c = tiny(config::ATTENTION_GQA);
  c.set_tie_embeddings(true);
  Transformer m(c);
  std::vector<std::string> names;
  for (const Named& p : m.named_parameters()) names.push_back(p.name);
  auto has = [&](const std::string& n) { return std::find(names.begin(), names.end(), n) != names.end(); };
  EXPECT_TRUE(has("embed.weight"));
  EXPECT_FALSE(has("head.weight"));  // tied
  EXPECT_TRUE(has("layers.0.ffn.w1.weight"));  // first_k_dense = 1
  EXPECT_TRUE(has("layers.1.ffn.router.weight"));
  EXPECT_TRUE(has("layers.1.ffn.experts.w1"));
  EXPECT_TRUE(has("layers.1.attn.wk.weight"));
  EXPECT_FALSE(has("layers.1.attn.q_norm.weight"));  // qk_norm off
  EXPECT_TRUE(has("mtp.0.proj.weight"));
  EXPECT_EQ(m.moe_layers().size(), 2u);  // layer 1 and the MTP block
  const auto bufs = m.named_buffers();
  ASSERT_FALSE(bufs.empty());
  EXPECT_EQ(bufs[0].name, "layers.1.ffn.router.selection_bias");
}

// Initial values depend only on (seed, parameter name): models built with
// different sets of modules agree on the parameters they share.
TEST(Transformer, InitDependsOnNameNotConstructionOrder) {
  config::ModelConfig a = tiny(config::ATTENTION_GQA), b = a;
  b.mutable_mtp()->set_depth(0);
  b.set_tie_embeddings(true);
  Transformer ma(a), mb(b);
  const auto pa = ma.named_parameters(), pb = mb.named_parameters();
  for (const Named& x : pa) {
    for (const Named& y : pb) {
      if (x.name == y.name) {
        EXPECT_EQ(x.tensor.to_vector(), y.tensor.to_vector()) << x.name;
      }
    }
  }
}

}  // namespace
}  // namespace moe::model

namespace moe::model {
namespace {

// Dropout masks follow the sequence, not its row in the batch: sequence 9's
// logits are the same alone or second in a batch; eval mode turns it off.
TEST(Transformer, DropoutKeyedBySequence) {
  config::ModelConfig c = tiny(config::ATTENTION_GQA);
  c.clear_mtp();
  c.set_dropout(0.3);
  Transformer m(c);
  const Tensor both = from_vector({1, 5, 3, 7, 2, 9, 4, 0}, {2, 4}, DType::i64);
  const Tensor second = from_vector({2, 9, 4, 0}, {1, 4}, DType::i64);
  BatchInfo two{{7, 9}, 5}, one{{9}, 5}, other{{8}, 5};
  const std::vector<double> a = select(m.forward(both, two), 0, 1).to_vector();
  EXPECT_EQ(a, select(m.forward(second, one), 0, 0).to_vector());
  EXPECT_NE(a, select(m.forward(second, other), 0, 0).to_vector());  // another sequence, another mask
  m.set_training(false);
  const std::vector<double> e1 = select(m.forward(second, one), 0, 0).to_vector();
  EXPECT_EQ(e1, select(m.forward(second, other), 0, 0).to_vector());
  EXPECT_NE(e1, a);
}

}  // namespace
}  // namespace moe::model
