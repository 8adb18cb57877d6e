#include "optim/param_rules.h"

#include <gtest/gtest.h>

namespace moe::optim {
namespace {

TEST(GlobMatch, LiteralsAndStars) {
  EXPECT_TRUE(glob_match("", ""));
  EXPECT_FALSE(glob_match("", "a"));
  EXPECT_TRUE(glob_match("abc", "abc"));
  EXPECT_FALSE(glob_match("ab", "abc"));
  EXPECT_FALSE(glob_match("abc", "ab"));
  EXPECT_TRUE(glob_match("*", ""));
  EXPECT_TRUE(glob_match("*", "layers.0.attn.wq.weight"));
  EXPECT_TRUE(glob_match("**", "x"));
  EXPECT_TRUE(glob_match("*.bias", "layers.0.attn.wq.bias"));
  EXPECT_FALSE(glob_match("*.bias", "layers.0.bias.weight"));
  EXPECT_TRUE(glob_match("layers.*.attn.wq.weight", "layers.12.attn.wq.weight"));
  EXPECT_FALSE(glob_match("layers.*.attn.wq.weight", "layers.12.attn.wk.weight"));
  EXPECT_TRUE(glob_match("*norm*", "final_norm.weight"));
  EXPECT_TRUE(glob_match("a*b*c", "aXbYc"));
  EXPECT_FALSE(glob_match("a*b*c", "aXbY"));
  // Needs backtracking: the first 'a' tried for "ab" is the wrong one.
  EXPECT_TRUE(glob_match("*ab", "aab"));
  EXPECT_TRUE(glob_match("*a*a", "banana"));
  EXPECT_FALSE(glob_match("a*a", "a"));
}

TEST(DefaultNoDecay, NormsBiasesAndSelectionBiases) {
  EXPECT_TRUE(default_no_decay("layers.0.attn_norm.weight"));
  EXPECT_TRUE(default_no_decay("layers.3.ffn_norm.weight"));
  EXPECT_TRUE(default_no_decay("final_norm.weight"));
  EXPECT_TRUE(default_no_decay("layers.0.attn.q_norm.weight"));
  EXPECT_TRUE(default_no_decay("layers.0.attn.k_norm.weight"));  // GQA qk_norm
  EXPECT_TRUE(default_no_decay("layers.0.attn.wq.bias"));
  EXPECT_TRUE(default_no_decay("bias"));
  EXPECT_TRUE(default_no_decay("layers.0.ffn.router.expert_bias"));
  EXPECT_FALSE(default_no_decay("embed.weight"));
  EXPECT_FALSE(default_no_decay("head.weight"));
  EXPECT_FALSE(default_no_decay("layers.0.attn.wq.weight"));
  EXPECT_FALSE(default_no_decay("layers.0.ffn.router.weight"));
  EXPECT_FALSE(default_no_decay("layers.0.ffn.experts.w1"));
  EXPECT_FALSE(default_no_decay("layers.0.ffn.shared.w1.weight"));
  // "norm" further up the path does not count.
  EXPECT_FALSE(default_no_decay("norm_stack.layers.0.wq.weight"));
}

TEST(IsNoDecay, PatternsReplaceTheDefault) {
  const std::vector<std::string> none;
  EXPECT_TRUE(is_no_decay("final_norm.weight", none));
  const std::vector<std::string> custom = {"embed.*", "*.wq.*"};
  EXPECT_TRUE(is_no_decay("embed.weight", custom));
  EXPECT_TRUE(is_no_decay("layers.0.attn.wq.weight", custom));
  EXPECT_FALSE(is_no_decay("layers.0.attn.wk.weight", custom));
  EXPECT_FALSE(is_no_decay("final_norm.weight", custom));  // the default no longer applies
}

TEST(IsMuonMatrix, HiddenMatricesAndExpertStacksOnly) {
  EXPECT_TRUE(is_muon_matrix("layers.0.attn.wq.weight", {16, 16}));
  EXPECT_TRUE(is_muon_matrix("layers.0.attn.wk.weight", {16, 8}));
  EXPECT_TRUE(is_muon_matrix("layers.0.ffn.router.weight", {16, 4}));
  EXPECT_TRUE(is_muon_matrix("layers.0.ffn.shared.w1.weight", {16, 32}));
  EXPECT_TRUE(is_muon_matrix("layers.0.ffn.experts.w1", {4, 16, 32}));
  EXPECT_FALSE(is_muon_matrix("embed.weight", {100, 16}));
  EXPECT_FALSE(is_muon_matrix("head.weight", {16, 100}));
  EXPECT_FALSE(is_muon_matrix("lm_head.weight", {16, 100}));
  EXPECT_FALSE(is_muon_matrix("final_norm.weight", {16}));
  EXPECT_FALSE(is_muon_matrix("layers.0.attn.wq.bias", {16}));
  EXPECT_FALSE(is_muon_matrix("layers.0.attn.wq.weight", {16}));  // a vector, whatever its name
  EXPECT_FALSE(is_muon_matrix("layers.0.x.weight", {2, 2, 2, 2}));
}

}  // namespace
}  // namespace moe::optim
