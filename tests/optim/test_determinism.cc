// A few steps of each optimizer, with clipping, give bitwise the same
// parameters with 1 and 2 threads (sizes large enough to split the loops).
#include <gtest/gtest.h>

#include "core/threading.h"
#include "optim/clip.h"
#include "test_util.h"

namespace moe::optim {
namespace {

using testing::random_param;
using testing::same_bits;

std::vector<Tensor> run(config::OptimizerKind kind, int threads) {
  const int saved = num_threads();
  set_num_threads(threads);
  std::vector<NamedParam> ps = {{"embed.weight", random_param({1000, 200}, 1)},
                                {"layers.0.attn.wq.weight", random_param({256, 384}, 2)},
                                {"layers.0.ffn.experts.w1", random_param({4, 128, 192}, 3)},
                                {"final_norm.weight", random_param({200}, 4)}};
  config::OptimizerConfig cfg;
  cfg.set_kind(kind);
  auto opt = make_optimizer(cfg, ps);
  std::vector<Tensor> params;
  for (const NamedParam& np : ps) params.push_back(np.param);
  for (uint64_t s = 0; s < 3; ++s) {
    for (size_t i = 0; i < ps.size(); ++i) ps[i].param.set_grad(randn(ps[i].param.shape(), 100 + s, i));
    clip_grad_norm(params, 50.0);
    opt->step(1e-3);
  }
  for (const auto& entry : opt->state()) params.push_back(entry.second);
  set_num_threads(saved);
  return params;
}

class Determinism : public ::testing::TestWithParam<config::OptimizerKind> {};

TEST_P(Determinism, OneVersusTwoThreads) {
  const auto one = run(GetParam(), 1), two = run(GetParam(), 2);
  ASSERT_EQ(one.size(), two.size());
  for (size_t i = 0; i < one.size(); ++i) EXPECT_TRUE(same_bits(one[i], two[i])) << "tensor " << i;
}

INSTANTIATE_TEST_SUITE_P(Kinds, Determinism, ::testing::Values(config::OPTIMIZER_ADAMW, config::OPTIMIZER_MUON));

}  // namespace
}  // namespace moe::optim
