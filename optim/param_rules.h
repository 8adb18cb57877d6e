#pragma once
// Name- and shape-based rules that sort parameters into optimizer groups.
//
// Parameter names are dotted paths ("layers.0.attn.wq.weight"). Weights are
// stored [in, out]; expert stacks are 3-D [E, in, out].
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/tensor.h"

namespace moe::optim {

// Shell-style match of the whole name: '*' matches any run of characters
// (dots included), every other character matches itself.
bool glob_match(std::string_view pattern, std::string_view name);

// The default no-decay rule: norm weights ("norm" inside the last or the
// last-but-one component: "final_norm.weight", "layers.0.attn.q_norm.weight"),
// biases (last component "bias") and selection biases (last component ending
// in "_bias", e.g. a router's "expert_bias", should one ever be a parameter).
bool default_no_decay(std::string_view name);

// True when `name` gets no weight decay: it matches one of `patterns`, or,
// when `patterns` is empty, default_no_decay(name).
bool is_no_decay(std::string_view name, const std::vector<std::string>& patterns);

// True for the parameters Muon updates: 2-D matrices and 3-D expert stacks
// (each [in, out] slice a matrix) that are neither embeddings (a component
// containing "embed") nor the output head (a component "head" or "lm_head")
// nor norms or biases. The router's weight is a hidden matrix and qualifies.
bool is_muon_matrix(std::string_view name, const Shape& shape);

}  // namespace moe::optim
