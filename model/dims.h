#pragma once
// Derived sizes of a ModelConfig (fields whose 0 means "derive it").
#include <cstdint>

#include "model/config.pb.h"

namespace moe::model {

inline int64_t kv_heads(const config::ModelConfig& c) { return c.n_kv_heads() > 0 ? c.n_kv_heads() : c.n_heads(); }
inline int64_t head_dim(const config::ModelConfig& c) {
  return c.head_dim() > 0 ? c.head_dim() : c.d_model() / c.n_heads();
}
inline bool has_moe(const config::ModelConfig& c) { return c.has_moe() && c.moe().num_routed_experts() > 0; }
// Layer l's FFN is an MoE layer (after the first_k_dense dense ones).
inline bool is_moe_layer(const config::ModelConfig& c, int64_t l) { return has_moe(c) && l >= c.first_k_dense(); }

}  // namespace moe::model
