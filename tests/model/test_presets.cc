// Presets reproduce the published parameter counts of the models they name.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "model/param_count.h"
#include "model/presets.h"

namespace moe::model {
namespace {

TEST(Preset, EveryNameLoads) {
  const auto names = preset_names();
  EXPECT_GE(names.size(), 8u);
  for (const auto& n : names) {
    auto c = model_preset(n);
    ASSERT_TRUE(c.ok()) << n << ": " << c.status();
    EXPECT_GT(c->d_model(), 0) << n;
  }
}

TEST(Preset, UnknownNameListsTheKnownOnes) {
  auto c = model_preset("gpt-5");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(c.status().message().find("gpt-5"), std::string::npos);
  EXPECT_NE(c.status().message().find("deepseek-v3"), std::string::npos);
}

// Published figures: DeepSeek-V3 report (671B / 37B), DeepSeek-V2 paper
// (236B / 21B), Mistral's Mixtral announcement (46.7B / 12.9B), Qwen3
// report and model card (235B / 22B). They are rounded: the activated
// figures of DeepSeek and Qwen to whole billions, so the tolerance is 0.5%
// or half a unit of the last published digit, whichever is larger. Each
// publisher's convention for the embedding table is noted in param_count.h.
struct Published {
  const char* name;
  double total, activated;
  bool activated_counts_embedding;
  double last_digit;  // unit of the last digit of the published activated figure
};

constexpr Published kPublished[] = {
    {"deepseek-v3", 671e9, 37e9, false, 1e9},
    {"deepseek-v2", 236e9, 21e9, false, 1e9},
    {"mixtral-8x7b", 46.7e9, 12.9e9, true, 0.1e9},
    {"qwen3-235b-a22b", 235e9, 22e9, true, 1e9},
};

TEST(Preset, TotalsWithinHalfAPercentOfPublished) {
  for (const Published& p : kPublished) {
    auto c = model_preset(p.name);
    ASSERT_TRUE(c.ok()) << c.status();
    const double total = double(count_params(*c).total_params);
    EXPECT_LE(std::abs(total - p.total), 0.005 * p.total) << p.name << ": " << total;
  }
}

TEST(Preset, ActivatedMatchesPublishedRounding) {
  for (const Published& p : kPublished) {
    auto c = model_preset(p.name);
    ASSERT_TRUE(c.ok()) << c.status();
    const ParamCount n = count_params(*c);
    const double act = double(p.activated_counts_embedding ? n.activated_with_embedding : n.activated_params);
    const double tol = std::max(0.005 * p.activated, 0.5 * p.last_digit);
    EXPECT_LE(std::abs(act - p.activated), tol) << p.name << ": " << act;
  }
}

// DeepSeek-V3's MTP module (one MoE block, enorm, hnorm, eh_proj) is
// excluded from its 671B; its published "14B" also repeats the embedding
// and head that HF stores with it: 11.6B + 1.85B.
TEST(Preset, DeepSeekV3MtpIsCountedApart) {
  auto c = model_preset("deepseek-v3");
  ASSERT_TRUE(c.ok());
  const ParamCount n = count_params(*c);
  const double with_copies = double(n.mtp_params) + 2.0 * 129280 * 7168;
  EXPECT_NEAR(with_copies, 13.5e9, 0.1e9);
  EXPECT_EQ(n.mtp_total.mtp_proj, 2 * 7168 * 7168);
}

}  // namespace
}  // namespace moe::model
