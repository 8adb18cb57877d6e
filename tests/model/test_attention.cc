// Attention layers on their own: Qwen3 QK-norm, and the per-head max logits
// QK-Clip watches (MLA's against a brute-force loop over its score terms).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <string>

#include "core/autograd.h"
#include "core/ops.h"
#include "model/attention.h"

namespace moe::model {
namespace {

config::ModelConfig gqa(bool qk_norm) {
  config::ModelConfig c;
  c.set_d_model(16);
  c.set_n_heads(4);
  c.set_n_kv_heads(2);
  c.set_init_std(0.8);  // large weights: logits far above sqrt(head_dim) without the norm
  c.set_qk_norm(qk_norm);
  return c;
}

std::vector<double> max_logits(Attention& a, const Tensor& x) {
  a.reset_max_logits();
  a.forward(x);
  return a.max_logits();
}

Tensor param(const Module& m, const std::string& name) {
  for (const Named& p : m.named_parameters())
    if (p.name == name) return p.tensor;
  ADD_FAILURE() << "no parameter " << name;
  return Tensor();
}

// With unit norm weights every q and k head has norm sqrt(Dh) (RoPE keeps
// it), so by Cauchy-Schwarz no logit exceeds Dh / sqrt(Dh) = sqrt(Dh) = 2.
TEST(QkNorm, BoundsTheLogits) {
  const Tensor x = randn({2, 6, 16}, 4);
  GqaAttention plain(gqa(false), 0.1), normed(gqa(true), 0.1);
  for (GqaAttention* a : {&plain, &normed}) {
    a->init_parameters(3);
    a->set_record_max_logits(true);
  }
  EXPECT_TRUE(normed.qk_norm());
  const std::vector<double> p = max_logits(plain, x), n = max_logits(normed, x);
  EXPECT_GT(*std::max_element(p.begin(), p.end()), 2.0);  // the bound means something
  for (double m : n) EXPECT_LE(m, 2.0 + 1e-5);
}

// The norm weights multiply the normalised heads: q_norm x 2 and k_norm x 4
// scale every logit by exactly 8 (powers of two round exactly); scaling W_q
// and W_k changes nothing up to rounding (RMSNorm is scale invariant).
TEST(QkNorm, WeightsScaleLogitsAndProjectionsDoNot) {
  const Tensor x = randn({2, 6, 16}, 4);
  GqaAttention a(gqa(true), 0.1);
  a.init_parameters(3);
  a.set_record_max_logits(true);
  const Tensor out = a.forward(x);
  const std::vector<double> before = max_logits(a, x);
  Tensor qn = param(a, "q_norm.weight"), kn = param(a, "k_norm.weight");
  EXPECT_EQ(qn.shape(), (Shape{4}));
  {
    NoGradGuard no_grad;
    fill_(qn, 2.0);
    fill_(kn, 4.0);
  }
  const std::vector<double> scaled = max_logits(a, x);
  for (size_t h = 0; h < 4; ++h) EXPECT_EQ(scaled[h], 8 * before[h]) << h;
  {
    NoGradGuard no_grad;
    fill_(qn, 1.0);
    fill_(kn, 1.0);
    Tensor wq = a.wq().weight(), wk = a.wk().weight();
    mul_(wq, 3.0);
    mul_(wk, 0.25);
  }
  const Tensor again = a.forward(x);
  EXPECT_LE(amax(abs(sub(again, out))).item(), 1e-5 * amax(abs(out)).item());
}

// Order and placement: per head over head_dim, then RoPE, q_norm on the
// queries and k_norm on the keys (distinct, non-uniform weights), in f64.
TEST(QkNorm, NormsEachHeadBeforeRope) {
  const config::ModelConfig c = gqa(true);
  GqaAttention a(c, 0.1);
  a.init_parameters(3);
  a.cast_parameters(DType::f64);
  a.set_record_max_logits(true);
  Tensor qn = param(a, "q_norm.weight"), kn = param(a, "k_norm.weight");
  {
    NoGradGuard no_grad;
    copy_(qn, from_vector({0.5, 1.5, 2.0, 0.25}, {4}, DType::f64));
    copy_(kn, from_vector({1.25, 0.75, 3.0, 0.5}, {4}, DType::f64));
  }
  const Tensor x = randn({2, 6, 16}, 4, 0, DType::f64);
  auto heads = [&](const Linear& w, const Tensor& norm, int64_t n) {
    return rope(rms_norm(view(matmul(x, w.weight()), {2, 6, n, 4}), norm, c.norm_eps()), c.rope_theta(),
                RopeStyle::half_split);
  };
  const std::vector<double> want =
      amax(attention_max_logits(heads(a.wq(), qn, 4), heads(a.wk(), kn, 2)), {0}).to_vector();
  const std::vector<double> got = max_logits(a, x);
  ASSERT_EQ(got.size(), 4u);
  for (size_t h = 0; h < 4; ++h) EXPECT_NEAR(got[h], want[h], 1e-12 * std::abs(want[h])) << h;
}

config::ModelConfig mla(int64_t q_lora, int64_t window) {
  config::ModelConfig c;
  c.set_d_model(16);
  c.set_n_heads(3);
  c.set_attention(config::ATTENTION_MLA);
  c.set_rope_convention(config::ROPE_INTERLEAVED);
  c.set_init_std(0.5);
  c.set_sliding_window(window);
  auto* m = c.mutable_mla();
  m->set_q_lora_rank(q_lora);
  m->set_kv_lora_rank(6);
  m->set_qk_nope_head_dim(4);
  m->set_qk_rope_head_dim(2);
  m->set_v_head_dim(3);
  return c;
}

// Per head, the largest (q_nope . k_nope + q_rope . k_rope) / sqrt(nope + rope)
// over the causal (windowed) pairs, term by term from the layer's weights.
std::vector<double> mla_max_logits_brute_force(const MlaAttention& a, const config::ModelConfig& c, const Tensor& x) {
  const int64_t B = x.size(0), T = x.size(1), H = c.n_heads(), r = c.mla().kv_lora_rank();
  const int64_t nope = c.mla().qk_nope_head_dim(), rd = c.mla().qk_rope_head_dim(), vd = c.mla().v_head_dim();
  const double eps = c.norm_eps(), theta = c.rope_theta();
  const Tensor q_flat = c.mla().q_lora_rank() > 0
                            ? matmul(rms_norm(matmul(x, param(a, "wq_a.weight")), param(a, "q_norm.weight"), eps),
                                     param(a, "wq_b.weight"))
                            : matmul(x, param(a, "wq.weight"));
  const Tensor q = view(q_flat, {B, T, H, nope + rd});
  const std::vector<double> q_nope = contiguous(narrow(q, 3, 0, nope)).to_vector();
  const std::vector<double> q_rope =
      contiguous(rope(narrow(q, 3, nope, rd), theta, RopeStyle::interleaved)).to_vector();
  const Tensor kv_a = matmul(x, param(a, "wkv_a.weight"));
  const Tensor c_kv = rms_norm(narrow(kv_a, 2, 0, r), param(a, "kv_norm.weight"), eps);
  const Tensor kv = view(matmul(c_kv, param(a, "wkv_b.weight")), {B, T, H, nope + vd});
  const std::vector<double> k_nope = contiguous(narrow(kv, 3, 0, nope)).to_vector();
  const std::vector<double> k_rope =
      contiguous(rope(view(narrow(kv_a, 2, r, rd), {B, T, 1, rd}), theta, RopeStyle::interleaved)).to_vector();
  const double scale = 1.0 / std::sqrt(double(nope + rd));
  std::vector<double> best(size_t(H), -std::numeric_limits<double>::infinity());
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t i = 0; i < T; ++i)
        for (int64_t j = 0; j <= i; ++j) {
          if (c.sliding_window() > 0 && j <= i - c.sliding_window()) continue;
          double s = 0;
          for (int64_t d = 0; d < nope; ++d)
            s += q_nope[size_t(((b * T + i) * H + h) * nope + d)] * k_nope[size_t(((b * T + j) * H + h) * nope + d)];
          for (int64_t d = 0; d < rd; ++d)
            s += q_rope[size_t(((b * T + i) * H + h) * rd + d)] * k_rope[size_t((b * T + j) * rd + d)];
          best[size_t(h)] = std::max(best[size_t(h)], scale * s);
        }
  return best;
}

TEST(MlaMaxLogits, MatchBruteForce) {
  for (int64_t q_lora : {0, 5}) {
    for (int64_t window : {0, 3}) {
      const config::ModelConfig c = mla(q_lora, window);
      MlaAttention a(c, 0.1);
      a.init_parameters(11);
      a.cast_parameters(DType::f64);
      a.set_record_max_logits(true);
      const Tensor x = randn({2, 7, 16}, 5, 0, DType::f64);
      const std::vector<double> got = max_logits(a, x), want = mla_max_logits_brute_force(a, c, x);
      ASSERT_EQ(got.size(), 3u);
      for (size_t h = 0; h < 3; ++h)
        EXPECT_NEAR(got[h], want[h], 1e-12 * std::max(1.0, std::abs(want[h])))
            << "q_lora " << q_lora << " window " << window << " head " << h;
      a.set_training(false);  // evaluation forwards record nothing
      a.reset_max_logits();
      a.forward(x);
      EXPECT_TRUE(a.max_logits().empty());
    }
  }
}

}  // namespace
}  // namespace moe::model
