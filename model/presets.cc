#include "model/presets.h"

#include <array>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/text_format.h"

namespace moe::model {
namespace {

struct Preset {
  std::string_view name;
  std::string_view text;  // ModelConfig in protobuf text format
};

// Hyper-parameters from each model's paper and released config.json.
// max_seq_len is the pre-training / native context (no YaRN extension).
constexpr std::string_view kDeepSeekV3 = R"pb(
  vocab_size: 129280
  d_model: 7168
  n_layers: 61
  n_heads: 128
  max_seq_len: 4096
  attention: ATTENTION_MLA
  mla { q_lora_rank: 1536 kv_lora_rank: 512 qk_nope_head_dim: 128 qk_rope_head_dim: 64 v_head_dim: 128 }
  rope_theta: 10000
  rope_convention: ROPE_INTERLEAVED
  norm_eps: 1e-6
  ffn_dim: 18432
  first_k_dense: 3
  tie_embeddings: false
  init_std: 0.006
  moe {
    num_routed_experts: 256
    num_shared_experts: 1
    expert_ffn_dim: 2048
    top_k: 8
    score_function: SCORE_SIGMOID
    normalize_top_k: true
    routed_scaling_factor: 2.5
    num_groups: 8
    top_k_groups: 4
    group_score: GROUP_SCORE_TOPN_SUM
    group_score_top_n: 2
    selection_bias: true
    bias_update_rate: 0.001
    sequence_balance_coef: 0.0001
  }
  mtp { depth: 1 weight: 0.3 }
)pb";

constexpr std::string_view kDeepSeekV2 = R"pb(
  vocab_size: 102400
  d_model: 5120
  n_layers: 60
  n_heads: 128
  max_seq_len: 4096
  attention: ATTENTION_MLA
  mla { q_lora_rank: 1536 kv_lora_rank: 512 qk_nope_head_dim: 128 qk_rope_head_dim: 64 v_head_dim: 128 }
  rope_theta: 10000
  rope_convention: ROPE_INTERLEAVED
  norm_eps: 1e-6
  ffn_dim: 12288
  first_k_dense: 1
  tie_embeddings: false
  init_std: 0.006
  moe {
    num_routed_experts: 160
    num_shared_experts: 2
    expert_ffn_dim: 1536
    top_k: 6
    score_function: SCORE_SOFTMAX
    normalize_top_k: false
    routed_scaling_factor: 16
    num_groups: 8
    top_k_groups: 3
    group_score: GROUP_SCORE_MAX
    expert_balance_coef: 0.003
    device_balance_coef: 0.05
    comm_balance_coef: 0.02
    balance_scope: BALANCE_PER_SEQUENCE
    drop_policy: DROP_DEVICE_BUDGET
    capacity_factor: 1.0
    protected_sequence_fraction: 0.1
  }
)pb";

constexpr std::string_view kMixtral8x7b = R"pb(
  vocab_size: 32000
  d_model: 4096
  n_layers: 32
  n_heads: 32
  n_kv_heads: 8
  head_dim: 128
  max_seq_len: 32768
  attention: ATTENTION_GQA
  rope_theta: 1000000
  rope_convention: ROPE_HALF_SPLIT
  norm_eps: 1e-5
  ffn_dim: 14336
  tie_embeddings: false
  moe {
    num_routed_experts: 8
    num_shared_experts: 0
    expert_ffn_dim: 14336
    top_k: 2
    score_function: SCORE_SOFTMAX
    normalize_top_k: true
    expert_balance_coef: 0.02
    balance_scope: BALANCE_PER_MICRO_BATCH
  }
)pb";

constexpr std::string_view kQwen3_235b = R"pb(
  vocab_size: 151936
  d_model: 4096
  n_layers: 94
  n_heads: 64
  n_kv_heads: 4
  head_dim: 128
  max_seq_len: 32768
  attention: ATTENTION_GQA
  qk_norm: true
  rope_theta: 1000000
  rope_convention: ROPE_HALF_SPLIT
  norm_eps: 1e-6
  ffn_dim: 12288
  tie_embeddings: false
  moe {
    num_routed_experts: 128
    num_shared_experts: 0
    expert_ffn_dim: 1536
    top_k: 8
    score_function: SCORE_SOFTMAX
    normalize_top_k: true
    expert_balance_coef: 0.001
    balance_scope: BALANCE_PER_MICRO_BATCH
  }
)pb";

// The tiny models of configs/ (the parameter match is noted there).
constexpr std::string_view kDenseRef = R"pb(
  vocab_size: 256
  d_model: 128
  n_layers: 4
  n_heads: 4
  max_seq_len: 64
  ffn_dim: 344
  dropout: 0.0
  attention: ATTENTION_GQA
)pb";

constexpr std::string_view kTinyMoe = R"pb(
  vocab_size: 256
  d_model: 128
  n_layers: 4
  n_heads: 4
  max_seq_len: 64
  ffn_dim: 344
  dropout: 0.0
  attention: ATTENTION_GQA
  moe {
    num_routed_experts: 8
    num_shared_experts: 1
    expert_ffn_dim: 86
    top_k: 3
    num_groups: 4
    top_k_groups: 2
    score_function: SCORE_SOFTMAX
    expert_balance_coef: 0.01
  }
)pb";

constexpr std::string_view kTinyMoeSigmoidBias = R"pb(
  vocab_size: 256
  d_model: 128
  n_layers: 4
  n_heads: 4
  max_seq_len: 64
  ffn_dim: 344
  dropout: 0.0
  attention: ATTENTION_GQA
  moe {
    num_routed_experts: 8
    num_shared_experts: 1
    expert_ffn_dim: 86
    top_k: 3
    num_groups: 4
    top_k_groups: 2
    group_score: GROUP_SCORE_TOPN_SUM
    group_score_top_n: 2
    score_function: SCORE_SIGMOID
    normalize_top_k: true
    selection_bias: true
    bias_update_rate: 0.001
    expert_balance_coef: 0
    sequence_balance_coef: 0.0001
  }
)pb";

constexpr std::string_view kTinyMlaMoe = R"pb(
  vocab_size: 256
  d_model: 128
  n_layers: 4
  n_heads: 4
  max_seq_len: 64
  ffn_dim: 344
  dropout: 0.0
  attention: ATTENTION_MLA
  rope_convention: ROPE_INTERLEAVED
  mla { q_lora_rank: 0 kv_lora_rank: 64 qk_nope_head_dim: 32 qk_rope_head_dim: 16 v_head_dim: 32 }
  moe {
    num_routed_experts: 8
    num_shared_experts: 1
    expert_ffn_dim: 86
    top_k: 3
    num_groups: 4
    top_k_groups: 2
    score_function: SCORE_SOFTMAX
    expert_balance_coef: 0.01
  }
)pb";

constexpr std::array<Preset, 8> kPresets = {{
    {"deepseek-v3", kDeepSeekV3},
    {"deepseek-v2", kDeepSeekV2},
    {"mixtral-8x7b", kMixtral8x7b},
    {"qwen3-235b-a22b", kQwen3_235b},
    {"dense-ref", kDenseRef},
    {"tiny-moe", kTinyMoe},
    {"tiny-moe-sigmoid-bias", kTinyMoeSigmoidBias},
    {"tiny-mla-moe", kTinyMlaMoe},
}};

}  // namespace

std::vector<std::string> preset_names() {
  std::vector<std::string> names;
  for (const Preset& p : kPresets) names.emplace_back(p.name);
  return names;
}

absl::StatusOr<config::ModelConfig> model_preset(std::string_view name) {
  for (const Preset& p : kPresets) {
    if (p.name != name) continue;
    config::ModelConfig c;
    if (!google::protobuf::TextFormat::ParseFromString(std::string(p.text), &c))
      return absl::InternalError(absl::StrCat("model preset '", std::string(name), "' does not parse"));
    return c;
  }
  return absl::NotFoundError(
      absl::StrCat("unknown model preset '", std::string(name), "'; presets: ", absl::StrJoin(preset_names(), ", ")));
}

}  // namespace moe::model
