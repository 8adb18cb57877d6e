#pragma once
// Causal self-attention: MHA/GQA (grouped key/value heads) and DeepSeek-V2's
// multi-head latent attention (MLA). Input and output [B, T, D].
#include <memory>
#include <vector>

#include "core/ops.h"

#include "model/config.pb.h"
#include "model/layers.h"

namespace moe::model {

// What QK-Clip (optim/qk_clip.h) rescales in one attention layer: the
// query and key weights and how heads own their columns.
struct QkClipWeights {
  Tensor wq, wk;  // GQA: W_q and W_k; MLA: W_q (or W_uq) and W_kv_b
  int64_t heads = 0;
  int64_t head_dim_q = 0, head_dim_k = 0;  // GQA
  bool mla = false;
  int64_t nope = 0, rope = 0, v = 0;  // MLA
};

class Attention : public Module {
 public:
  virtual Tensor forward(const Tensor& x) const = 0;
  virtual QkClipWeights qk_clip_weights() const = 0;
  // QK-Clip (MuonClip) statistic: when on, every training forward folds each
  // query head's largest pre-softmax logit into max_logits() (a running max
  // until reset_max_logits()).
  void set_record_max_logits(bool on) { record_max_logits_ = on; }
  const std::vector<double>& max_logits() const { return max_logits_; }
  void reset_max_logits() { max_logits_.clear(); }

 protected:
  // Folds scale * q.k maxima of this batch (q [B,T,H,Dh], k [B,T,Hkv,Dh]) in.
  void record_max_logits(const Tensor& q, const Tensor& k, double scale, int64_t window) const;

 private:
  bool record_max_logits_ = false;
  mutable std::vector<double> max_logits_;
};

// q = x Wq, k = x Wk, v = x Wv with H query heads and Hkv key/value heads
// (H % Hkv == 0), RoPE on q and k, causal SDPA, output x Wo. With qk_norm
// (Qwen3) each q and k head is RMS-normalised over head_dim before RoPE, by
// q_norm / k_norm weights [head_dim] shared by the heads (replicated under TP).
class GqaAttention : public Attention {
 public:
  // With tensor parallelism this rank holds heads [tp_rank * H/TP, ...) and
  // kv heads likewise; forward takes the full sequence and returns this
  // rank's partial sum of the output projection (the caller reduces).
  GqaAttention(const config::ModelConfig& c, double out_std, const Layout& layout = {});
  Tensor forward(const Tensor& x) const override;
  QkClipWeights qk_clip_weights() const override {
    QkClipWeights w;
    w.wq = wq_.weight(), w.wk = wk_.weight(), w.heads = heads_, w.head_dim_q = w.head_dim_k = head_dim_;
    return w;
  }
  const Linear& wq() const { return wq_; }
  const Linear& wk() const { return wk_; }
  int64_t heads() const { return heads_; }
  int64_t head_dim() const { return head_dim_; }
  bool qk_norm() const { return q_norm_ != nullptr; }

 private:
  // x W viewed as n heads [B, T, n, head_dim], RMS-normalised (norm != null), then rotated.
  Tensor rotated_heads(const Tensor& x, const Linear& w, const RMSNorm* norm, int64_t n) const;
  int64_t heads_, kv_heads_, head_dim_;
  double rope_theta_;
  RopeStyle rope_style_;
  int64_t window_;
  Linear wq_, wk_, wv_, wo_;
  std::unique_ptr<RMSNorm> q_norm_, k_norm_;
};

// MLA (DeepSeek-V2 §2.1): keys and values come from a joint low-rank latent
// c_kv = RMSNorm(x W_kv_a[:, :r]) expanded per head by W_kv_b into
// (k_nope, v); a decoupled RoPE key x W_kv_a[:, r:] is shared by all heads;
// queries optionally through their own latent (q_lora_rank > 0). Each head's
// query/key is [q_nope ; rope(q_rope)] / [k_nope ; rope(k_rope)], scaled by
// 1/sqrt(nope + rope dims).
class MlaAttention : public Attention {
 public:
  // Tensor parallel: heads split as for GQA; the shared latent projections
  // (W_kv_a, W_q_a, their norms) are replicated.
  MlaAttention(const config::ModelConfig& c, double out_std, const Layout& layout = {});
  Tensor forward(const Tensor& x) const override;
  // What QK-Clip rescales (weights are [in, out], so a head's parts are
  // column blocks): the projection holding each head's query, W_uq (wq_b)
  // with q_lora_rank > 0 else W_q, head h = [q_nope | q_rope] columns of
  // h * (nope + rope); and the up-projection W_kv_b, head h = [k_nope | v]
  // columns of h * (nope + v). The shared rotary key lives in W_kv_a.
  const Linear& query_heads() const { return q_lora_ > 0 ? *wq_b_ : *wq_; }
  QkClipWeights qk_clip_weights() const override {
    QkClipWeights w;
    w.wq = query_heads().weight(), w.wk = wkv_b_.weight(), w.heads = heads_, w.mla = true;
    w.nope = nope_, w.rope = rope_dim_, w.v = v_dim_;
    return w;
  }
  const Linear& wkv_b() const { return wkv_b_; }
  int64_t heads() const { return heads_; }
  int64_t nope_dim() const { return nope_; }
  int64_t rope_dim() const { return rope_dim_; }
  int64_t v_dim() const { return v_dim_; }

 private:
  int64_t heads_, q_lora_, kv_lora_, nope_, rope_dim_, v_dim_;
  double rope_theta_, eps_;
  RopeStyle rope_style_;
  int64_t window_;
  std::unique_ptr<Linear> wq_, wq_a_, wq_b_;
  std::unique_ptr<RMSNorm> q_norm_;
  Linear wkv_a_;
  RMSNorm kv_norm_;
  Linear wkv_b_, wo_;
};

std::unique_ptr<Attention> make_attention(const config::ModelConfig& c, double out_std, const Layout& layout = {});

}  // namespace moe::model
