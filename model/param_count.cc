#include "model/param_count.h"

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "model/dims.h"

namespace moe::model {
namespace {

int64_t swiglu(int64_t d, int64_t hidden) { return 3 * d * hidden; }

// One layer's attention weights: `replicated` are those a tensor-parallel
// layout keeps whole (MLA's down-projections); norms are counted apart.
struct AttentionParams {
  int64_t sharded = 0, replicated = 0, norms = 0;
};

AttentionParams attention_params(const config::ModelConfig& c) {
  const int64_t D = c.d_model(), H = c.n_heads();
  AttentionParams a;
  if (c.attention() == config::ATTENTION_MLA) {
    const auto& m = c.mla();
    const int64_t qk = m.qk_nope_head_dim() + m.qk_rope_head_dim();
    if (m.q_lora_rank() > 0) {
      a.replicated += D * m.q_lora_rank();
      a.norms += m.q_lora_rank();
      a.sharded += m.q_lora_rank() * H * qk;
    } else {
      a.sharded += D * H * qk;
    }
    a.replicated += D * (m.kv_lora_rank() + m.qk_rope_head_dim());
    a.norms += m.kv_lora_rank();
    a.sharded += m.kv_lora_rank() * H * (m.qk_nope_head_dim() + m.v_head_dim());
    a.sharded += H * m.v_head_dim() * D;
  } else {
    const int64_t dh = head_dim(c), hkv = kv_heads(c);
    a.sharded = D * H * dh + 2 * D * hkv * dh + H * dh * D;
    if (c.qk_norm()) a.norms += 2 * dh;  // q_norm, k_norm: one [Dh] each, shared by the heads
  }
  return a;
}

// Attention's per-token score and value widths summed over heads.
int64_t attention_qk_plus_v(const config::ModelConfig& c) {
  if (c.attention() == config::ATTENTION_MLA) {
    const auto& m = c.mla();
    return c.n_heads() * (m.qk_nope_head_dim() + m.qk_rope_head_dim() + m.v_head_dim());
  }
  return c.n_heads() * 2 * head_dim(c);
}

struct BlockParams {
  ParamComponents total, activated;
};

// One transformer block: its two norms, attention and FFN.
BlockParams block_params(const config::ModelConfig& c, bool moe_layer) {
  const int64_t D = c.d_model();
  const AttentionParams a = attention_params(c);
  ParamComponents t;
  t.attention = a.sharded + a.replicated;
  t.norms = 2 * D + a.norms;
  ParamComponents act = t;
  if (moe_layer) {
    const auto& m = c.moe();
    const int64_t expert = swiglu(D, m.expert_ffn_dim());
    t.routed_experts = m.num_routed_experts() * expert;
    t.shared_experts = swiglu(D, m.num_shared_experts() * m.expert_ffn_dim());
    t.router = m.num_routed_experts() * D;
    act.routed_experts = std::min(m.top_k(), m.num_routed_experts()) * expert;
    act.shared_experts = t.shared_experts;
    act.router = t.router;
  } else {
    t.dense_ffn = act.dense_ffn = swiglu(D, c.ffn_dim());
  }
  return {t, act};
}

void add(ParamComponents& to, const ParamComponents& p, int64_t times = 1) {
  to.embedding += times * p.embedding;
  to.head += times * p.head;
  to.attention += times * p.attention;
  to.dense_ffn += times * p.dense_ffn;
  to.routed_experts += times * p.routed_experts;
  to.shared_experts += times * p.shared_experts;
  to.router += times * p.router;
  to.norms += times * p.norms;
  to.mtp_proj += times * p.mtp_proj;
}

// MTP blocks sit at layer index n_layers + k (model/transformer.cc).
bool mtp_block_is_moe(const config::ModelConfig& c) { return is_moe_layer(c, c.n_layers()); }

// Weights that are matmuls for one token: activated minus norms (and the
// embedding, a gather; the head is counted in `head`, or is the tied table).
int64_t matmul_weights(const config::ModelConfig& c, const ParamComponents& act) {
  const int64_t tied_head = c.tie_embeddings() ? act.embedding : 0;
  return act.sum() - act.norms - act.embedding + tied_head;
}

}  // namespace

int64_t ParamComponents::sum() const {
  return embedding + head + attention + dense_ffn + routed_experts + shared_experts + router + norms + mtp_proj;
}

double MemoryPerRank::total_bytes() const {
  return master_bytes + grad_bytes + optimizer_bytes + compute_copy_bytes + activation_bytes;
}

ParamCount count_params(const config::ModelConfig& c) {
  const int64_t V = c.vocab_size(), D = c.d_model();
  ParamCount p;
  p.total.embedding = V * D;
  p.total.head = c.tie_embeddings() ? 0 : V * D;
  p.total.norms = D;  // final norm
  p.activated = p.total;
  for (int64_t l = 0; l < c.n_layers(); ++l) {
    const BlockParams b = block_params(c, is_moe_layer(c, l));
    add(p.total, b.total);
    add(p.activated, b.activated);
  }
  const int64_t depth = c.has_mtp() ? c.mtp().depth() : 0;
  if (depth > 0) {
    const BlockParams b = block_params(c, mtp_block_is_moe(c));
    ParamComponents own;
    own.norms = 2 * D;  // enorm, hnorm
    own.mtp_proj = 2 * D * D;
    add(p.mtp_total, own, depth);
    add(p.mtp_total, b.total, depth);
    add(p.mtp_activated, own, depth);
    add(p.mtp_activated, b.activated, depth);
  }
  p.total_params = p.total.sum();
  p.activated_with_embedding = p.activated.sum();
  p.activated_params = p.activated_with_embedding - (c.tie_embeddings() ? 0 : V * D);
  p.mtp_params = p.mtp_total.sum();
  return p;
}

FlopCount flops_per_token(const config::ModelConfig& c, int64_t seq_len) {
  const ParamCount p = count_params(c);
  const int64_t ctx = c.sliding_window() > 0 ? std::min(seq_len, c.sliding_window()) : seq_len;
  const double attention_per_layer = 6.0 * double(ctx) * double(attention_qk_plus_v(c));
  FlopCount f;
  f.matmul_params = double(matmul_weights(c, p.activated));
  f.matmul = 6.0 * f.matmul_params;
  f.attention = attention_per_layer * double(c.n_layers());
  const int64_t depth = c.has_mtp() ? c.mtp().depth() : 0;
  if (depth > 0) {
    // Each depth's logits go through the shared head once more.
    const double mtp_matmul = double(p.mtp_activated.sum() - p.mtp_activated.norms) +
                              double(depth) * double(c.vocab_size()) * double(c.d_model());
    f.mtp = 6.0 * mtp_matmul + attention_per_layer * double(depth);
  }
  f.total = f.matmul + f.attention + f.mtp;
  return f;
}

namespace {

absl::Status check_layout(const config::ModelConfig& c, const MemoryLayout& l) {
  auto bad = [](auto... parts) { return absl::InvalidArgumentError(absl::StrCat("layout.", parts...)); };
  if (l.tp < 1) return bad("tp = ", l.tp, " must be >= 1");
  if (l.ep < 1) return bad("ep = ", l.ep, " must be >= 1");
  if (l.dp < 1) return bad("dp = ", l.dp, " must be >= 1");
  if (l.micro_batch < 1) return bad("micro_batch = ", l.micro_batch, " must be >= 1");
  if (l.seq_len < 0) return bad("seq_len = ", l.seq_len, " must be >= 0 (0: max_seq_len)");
  if (c.n_heads() % l.tp != 0) return bad("tp = ", l.tp, " does not divide model.n_heads = ", c.n_heads());
  if ((l.dp * l.tp) % l.ep != 0) return bad("ep = ", l.ep, " does not divide the world size dp x tp = ", l.dp * l.tp);
  if (has_moe(c) && c.moe().num_routed_experts() % l.ep != 0)
    return bad("ep = ", l.ep, " does not divide model.moe.num_routed_experts = ", c.moe().num_routed_experts());
  if (!has_moe(c) && l.ep != 1) return bad("ep = ", l.ep, " needs an MoE model (model.moe.num_routed_experts > 0)");
  return absl::OkStatus();
}

// Activation elements saved for backward per token in one layer (see the
// formula in param_count.h).
double layer_activations(const config::ModelConfig& c, bool moe_layer) {
  const double D = double(c.d_model()), H = double(c.n_heads());
  double a = 4 * D + H;  // norms in/out, attention log-sum-exps
  if (c.attention() == config::ATTENTION_MLA) {
    const auto& m = c.mla();
    const double qk = double(m.qk_nope_head_dim() + m.qk_rope_head_dim()), v = double(m.v_head_dim());
    a += 2 * H * qk + 2 * H * v;
    a += 2 * double(m.q_lora_rank()) + 2 * double(m.kv_lora_rank()) + double(m.qk_rope_head_dim());
  } else {
    const double dh = double(head_dim(c)), hkv = double(kv_heads(c));
    a += 2 * H * dh + 2 * hkv * dh;
    if (c.qk_norm()) a += H * dh + hkv * dh;  // q, k before their norms
  }
  if (moe_layer) {
    const auto& m = c.moe();
    const double fe = double(m.expert_ffn_dim());
    a +=
        2 * double(m.num_routed_experts()) + double(m.top_k()) * (D + 4 * fe) + 4 * double(m.num_shared_experts()) * fe;
  } else {
    a += 4 * double(c.ffn_dim());
  }
  return a;
}

}  // namespace

absl::StatusOr<MemoryPerRank> memory_per_rank(const config::ModelConfig& c, const MemoryLayout& l) {
  if (absl::Status s = check_layout(c, l); !s.ok()) return s;
  const ParamCount p = count_params(c);
  const int64_t depth = c.has_mtp() ? c.mtp().depth() : 0;
  const int64_t attention_layers = c.n_layers() + depth;

  ParamComponents all = p.total;
  add(all, p.mtp_total);
  const int64_t replicated = all.norms + all.router + attention_layers * attention_params(c).replicated;
  const int64_t sharded = all.sum() - all.routed_experts - replicated;
  MemoryPerRank m;
  m.dense_params = (sharded + l.tp - 1) / l.tp + replicated;
  m.expert_params = all.routed_experts / l.ep;

  const double held = double(m.dense_params + m.expert_params);
  const double edp = double(l.dp * l.tp / l.ep);
  m.master_bytes = 4 * held;
  m.grad_bytes = 4 * held;
  const double moments = l.bf16_moments ? 4 : 8;  // m and v, 2 or 4 bytes each
  m.optimizer_bytes =
      l.zero1 ? moments * (double(m.dense_params) / double(l.dp) + double(m.expert_params) / edp) : moments * held;
  m.compute_copy_bytes = l.bf16_compute_copy ? 2 * held : 0;

  const int64_t seq = l.seq_len > 0 ? l.seq_len : c.max_seq_len();
  double per_token = double(c.d_model()) + 2 * double(c.vocab_size());  // final norm, logits
  for (int64_t i = 0; i < c.n_layers(); ++i) per_token += layer_activations(c, is_moe_layer(c, i));
  if (depth > 0)
    per_token += double(depth) *
                 (layer_activations(c, mtp_block_is_moe(c)) + 6 * double(c.d_model()) + 2 * double(c.vocab_size()));
  const double act_bytes = l.bf16_compute_copy ? 2 : 4;
  m.activation_bytes = double(l.micro_batch) * double(seq) * per_token * act_bytes / double(l.tp);
  return m;
}

}  // namespace moe::model
