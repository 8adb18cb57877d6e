#include "model/attention.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/autograd.h"
#include "core/error.h"

#include "core/ops.h"
#include "model/dims.h"

namespace moe::model {

namespace {
RopeStyle rope_style(const config::ModelConfig& c) {
  return c.rope_convention() == config::ROPE_INTERLEAVED ? RopeStyle::interleaved : RopeStyle::half_split;
}
}  // namespace

void Attention::record_max_logits(const Tensor& q, const Tensor& k, double scale, int64_t window) const {
  if (!record_max_logits_ || !training()) return;
  NoGradGuard no_grad;
  const std::vector<double> m = amax(attention_max_logits(q, k, scale, window), {0}).to_vector();
  if (max_logits_.empty()) max_logits_.assign(m.size(), -std::numeric_limits<double>::infinity());
  for (size_t h = 0; h < m.size(); ++h) max_logits_[h] = std::max(max_logits_[h], m[h]);
}

GqaAttention::GqaAttention(const config::ModelConfig& c, double out_std, const Layout& layout)
    : heads_(c.n_heads() / layout.tp()),
      kv_heads_(model::kv_heads(c) / layout.tp()),
      head_dim_(model::head_dim(c)),
      rope_theta_(c.rope_theta()),
      rope_style_(rope_style(c)),
      window_(c.sliding_window()),
      wq_(c.d_model(), c.n_heads() * head_dim_, c.init_std(), layout.tp_split(1)),
      wk_(c.d_model(), model::kv_heads(c) * head_dim_, c.init_std(), layout.tp_split(1)),
      wv_(c.d_model(), model::kv_heads(c) * head_dim_, c.init_std(), layout.tp_split(1)),
      wo_(c.n_heads() * head_dim_, c.d_model(), out_std, layout.tp_split(0)) {
  child("wq", &wq_);
  child("wk", &wk_);
  child("wv", &wv_);
  child("wo", &wo_);
  if (c.qk_norm()) {
    q_norm_ = std::make_unique<RMSNorm>(head_dim_, c.norm_eps());
    k_norm_ = std::make_unique<RMSNorm>(head_dim_, c.norm_eps());
    child("q_norm", q_norm_.get());
    child("k_norm", k_norm_.get());
  }
}

Tensor GqaAttention::rotated_heads(const Tensor& x, const Linear& w, const RMSNorm* norm, int64_t n) const {
  Tensor h = view(w.forward(x), {x.size(0), x.size(1), n, head_dim_});
  if (norm) h = norm->forward(h);
  return rope(h, rope_theta_, rope_style_);
}

Tensor GqaAttention::forward(const Tensor& x) const {
  const int64_t B = x.size(0), T = x.size(1);
  const Tensor q = rotated_heads(x, wq_, q_norm_.get(), heads_);
  const Tensor k = rotated_heads(x, wk_, k_norm_.get(), kv_heads_);
  const Tensor v = view(wv_.forward(x), {B, T, kv_heads_, head_dim_});
  record_max_logits(q, k, 0.0, window_);
  const Tensor o = scaled_dot_product_attention(q, k, v, 0.0, window_);
  return wo_.forward(view(o, {B, T, heads_ * head_dim_}));
}

MlaAttention::MlaAttention(const config::ModelConfig& c, double out_std, const Layout& layout)
    : heads_(c.n_heads() / layout.tp()),
      q_lora_(c.mla().q_lora_rank()),
      kv_lora_(c.mla().kv_lora_rank()),
      nope_(c.mla().qk_nope_head_dim()),
      rope_dim_(c.mla().qk_rope_head_dim()),
      v_dim_(c.mla().v_head_dim()),
      rope_theta_(c.rope_theta()),
      eps_(c.norm_eps()),
      rope_style_(rope_style(c)),
      window_(c.sliding_window()),
      wkv_a_(c.d_model(), kv_lora_ + rope_dim_, c.init_std()),
      kv_norm_(kv_lora_, c.norm_eps()),
      wkv_b_(kv_lora_, c.n_heads() * (nope_ + v_dim_), c.init_std(), layout.tp_split(1)),
      wo_(c.n_heads() * v_dim_, c.d_model(), out_std, layout.tp_split(0)) {
  MOE_CHECK(!c.qk_norm(), "model.qk_norm is for GQA/MHA attention, not ATTENTION_MLA");
  const int64_t qk = c.n_heads() * (nope_ + rope_dim_);
  if (q_lora_ > 0) {
    wq_a_ = std::make_unique<Linear>(c.d_model(), q_lora_, c.init_std());
    q_norm_ = std::make_unique<RMSNorm>(q_lora_, c.norm_eps());
    wq_b_ = std::make_unique<Linear>(q_lora_, qk, c.init_std(), layout.tp_split(1));
    child("wq_a", wq_a_.get());
    child("q_norm", q_norm_.get());
    child("wq_b", wq_b_.get());
  } else {
    wq_ = std::make_unique<Linear>(c.d_model(), qk, c.init_std(), layout.tp_split(1));
    child("wq", wq_.get());
  }
  child("wkv_a", &wkv_a_);
  child("kv_norm", &kv_norm_);
  child("wkv_b", &wkv_b_);
  child("wo", &wo_);
}

Tensor MlaAttention::forward(const Tensor& x) const {
  const int64_t B = x.size(0), T = x.size(1), H = heads_;
  const Tensor q_flat = q_lora_ > 0 ? wq_b_->forward(q_norm_->forward(wq_a_->forward(x))) : wq_->forward(x);
  const Tensor q = view(q_flat, {B, T, H, nope_ + rope_dim_});
  const Tensor q_rope = rope(narrow(q, 3, nope_, rope_dim_), rope_theta_, rope_style_);
  const Tensor q_full = cat({narrow(q, 3, 0, nope_), q_rope}, 3);

  const Tensor kv_a = wkv_a_.forward(x);  // [B, T, r + rope]
  const Tensor c_kv = kv_norm_.forward(narrow(kv_a, 2, 0, kv_lora_));
  const Tensor k_rope = rope(view(narrow(kv_a, 2, kv_lora_, rope_dim_), {B, T, 1, rope_dim_}), rope_theta_,
                             rope_style_);
  const Tensor kv = view(wkv_b_.forward(c_kv), {B, T, H, nope_ + v_dim_});
  const Tensor k_full = cat({narrow(kv, 3, 0, nope_), expand(k_rope, {B, T, H, rope_dim_})}, 3);
  const Tensor v = narrow(kv, 3, nope_, v_dim_);
  const double scale = 1.0 / std::sqrt(double(nope_ + rope_dim_));
  record_max_logits(q_full, k_full, scale, window_);  // the whole score q_nope.k_nope + q_rope.k_rope
  const Tensor o = scaled_dot_product_attention(q_full, k_full, v, scale, window_);
  return wo_.forward(reshape(o, {B, T, H * v_dim_}));
}

std::unique_ptr<Attention> make_attention(const config::ModelConfig& c, double out_std, const Layout& layout) {
  if (c.attention() == config::ATTENTION_MLA) return std::make_unique<MlaAttention>(c, out_std, layout);
  return std::make_unique<GqaAttention>(c, out_std, layout);
}

}  // namespace moe::model
