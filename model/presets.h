#pragma once
// Named model architectures: the published large MoE models (for counting
// parameters, FLOPs and memory; never instantiated here) and the tiny ones
// we train, identical to the `model` block of configs/<name with _>.pbtxt
// (a launch test checks that they agree).
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "model/config.pb.h"

namespace moe::model {

// "deepseek-v3", "deepseek-v2", "mixtral-8x7b", "qwen3-235b-a22b",
// "dense-ref", "tiny-moe", "tiny-moe-sigmoid-bias", "tiny-mla-moe".
std::vector<std::string> preset_names();

// NotFound (listing the names) for an unknown preset.
absl::StatusOr<config::ModelConfig> model_preset(std::string_view name);

}  // namespace moe::model
