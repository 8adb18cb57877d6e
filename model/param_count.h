#pragma once
// Analytic parameter, FLOP and memory counts of a ModelConfig. Nothing is
// instantiated, so the 671B presets cost microseconds.
//
// Parameter structure (the model in model/*.cc; a test compares small
// configs against the real module tree):
//   embed.weight [V, D]; head.weight [V, D] unless tie_embeddings;
//   final_norm.weight [D]; per layer attn_norm [D] and ffn_norm [D];
//   GQA: wq [D, H*Dh], wk/wv [D, Hkv*Dh], wo [H*Dh, D], no biases;
//        with qk_norm q_norm [Dh], k_norm [Dh] (shared by the heads);
//   MLA: wq [D, H*(nope+rope)] or (q_lora_rank > 0) wq_a [D, q_lora],
//        q_norm [q_lora], wq_b [q_lora, H*(nope+rope)]; wkv_a [D, kv_lora+rope],
//        kv_norm [kv_lora], wkv_b [kv_lora, H*(nope+v)], wo [H*v, D];
//   dense FFN (layers < first_k_dense, or all when there is no MoE):
//        SwiGLU w1/w3 [D, F], w2 [F, D];
//   MoE layer: router [N_r, D] (the selection bias is a buffer, not
//        counted); routed w1/w3 [N_r, D, Fe], w2 [N_r, Fe, D]; the shared
//        experts as one SwiGLU of width num_shared * Fe;
//   MTP, per depth: enorm [D], hnorm [D], proj [2D, D] and one block (MoE if
//        the last main layer is), sharing embedding and head.
//
// Conventions, chosen because they reproduce the published figures
// (tests/model/test_presets.cc):
//   - total: the main model, each parameter once; MTP modules excluded
//     (DeepSeek-V3's 671B excludes its MTP module; `mtp` counts it).
//   - activated: what one token's forward touches: all attention, norms,
//     the router (every logit is computed), the shared experts and top_k
//     routed experts, and the output head; NOT the input embedding table,
//     of which a token reads one row. DeepSeek publishes this way
//     (V3: 36.6B -> "37B"; counting the table gives 37.6B).
//   - activated_with_embedding: activated + the embedding table (when it
//     is not tied to the head, which is counted already). Mistral and Qwen
//     publish this way (Mixtral: 12.88B -> "12.9B"; without it 12.75B).
#include <cstdint>

#include "absl/status/statusor.h"
#include "model/config.pb.h"

namespace moe::model {

// Parameters by component. `norms` holds every RMSNorm weight (layer norms,
// final norm, MLA q_norm/kv_norm, GQA q_norm/k_norm); `mtp_proj` the MTP
// projections only.
struct ParamComponents {
  int64_t embedding = 0;  // input table [V, D]
  int64_t head = 0;       // output projection [V, D] (0 when tied)
  int64_t attention = 0;
  int64_t dense_ffn = 0;
  int64_t routed_experts = 0;
  int64_t shared_experts = 0;
  int64_t router = 0;
  int64_t norms = 0;
  int64_t mtp_proj = 0;
  int64_t sum() const;
};

struct ParamCount {
  ParamComponents total;      // main model
  ParamComponents activated;  // main model, per token; embedding = the whole table
  ParamComponents mtp_total;  // MTP modules (shared embedding/head not repeated)
  ParamComponents mtp_activated;
  int64_t total_params = 0;
  int64_t activated_params = 0;          // DeepSeek convention (see above)
  int64_t activated_with_embedding = 0;  // Mistral / Qwen convention
  int64_t mtp_params = 0;
};

ParamCount count_params(const config::ModelConfig& c);

// Training FLOPs per token (forward + backward), the Chinchilla / Megatron
// convention: 6 x (activated matmul weights) + attention 6 x ctx x H x
// (qk_dim + v_dim) per layer, where QK^T and AV cost 2 x ctx x H x dim each
// forward and backward is twice forward. ctx = seq_len (the full score
// matrix, not halved for causality, as Chinchilla's 6N + 12 L H Q T counts
// it), or sliding_window when smaller. Matmul weights: everything activated
// except norms and the embedding lookup (a gather); the router and head are
// matmuls. MTP depths add their projection, block and another head matmul.
struct FlopCount {
  double matmul_params = 0;  // main model's activated matmul weights
  double matmul = 0;         // 6 x matmul_params
  double attention = 0;      // main model's score/value products
  double mtp = 0;            // MTP modules, matmul + attention
  double total = 0;
};
FlopCount flops_per_token(const config::ModelConfig& c, int64_t seq_len);

// A parallel layout for the memory estimate: world = dp x tp ranks, MoE
// layers folded into ep x (dp*tp/ep).
struct MemoryLayout {
  int64_t tp = 1, ep = 1, dp = 1;
  bool zero1 = false;              // shard the Adam states over data-parallel replicas
  bool bf16_compute_copy = false;  // keep a bf16 copy of the weights for compute
  bool bf16_moments = false;       // Adam m, v in bf16 (optim.moment_dtype = MOMENT_BF16)
  int64_t micro_batch = 1;         // sequences per micro-batch on one rank
  int64_t seq_len = 0;             // 0: max_seq_len
};

// Bytes one rank holds while training with AdamW:
//   weights: fp32 master (4 B/param) + fp32 grads (4 B) + Adam m, v (8 B,
//   4 B with bf16_moments; divided by the replica count when zero1) +
//   optional bf16 copy (2 B).
//   Held params: non-expert matrices / tp (vocab-parallel embedding and
//   head, head-parallel attention, column/row-split FFNs and shared
//   experts); norms, the router and MLA's down-projections (wq_a, wkv_a)
//   replicated; routed experts / ep. Replicas: dp for non-expert params,
//   dp*tp/ep for experts. MTP modules included (they are trained).
//   activations (one micro-batch, saved for backward, bytes of the compute
//   dtype: 2 with the bf16 copy, else 4), per token:
//     per layer: 4D (two norms' inputs and outputs)
//       + attention: q, k, v, output (H*dqk + Hkv*dqk + Hkv*dv + H*dv;
//         MLA has Hkv = H), the row log-sum-exps (H; scores are recomputed
//         in backward, never stored), MLA's latents (q_lora + kv_lora +
//         rope, and the normed ones again), with qk_norm q and k once more
//         (the norms' inputs)
//       + dense FFN: 4F (x w1, x w3, silu, product)
//       + MoE: router logits and scores 2*N_r + K*(D + 4*Fe) for the
//         dispatched copies and expert hidden states + 4*num_shared*Fe
//     + final: D + 2V (final norm output, logits and their softmax)
//     + per MTP depth: its layer + 6D + 2V (norms, concatenation, logits)
//   everything / tp (sequence parallel shards the rest); routed work is not
//   divided by ep: on average a rank computes as many assignments as its
//   own tokens make. A rough estimate: temporaries, workspace and allocator
//   slack are not counted.
struct MemoryPerRank {
  int64_t dense_params = 0;   // non-expert parameters on this rank
  int64_t expert_params = 0;  // routed-expert parameters on this rank
  double master_bytes = 0, grad_bytes = 0, optimizer_bytes = 0, compute_copy_bytes = 0;
  double activation_bytes = 0;
  double total_bytes() const;
};
// Invalid layouts (ep not dividing dp*tp or the expert count, tp not
// dividing the heads, sizes < 1) return InvalidArgument naming the field.
absl::StatusOr<MemoryPerRank> memory_per_rank(const config::ModelConfig& c, const MemoryLayout& layout);

}  // namespace moe::model
