// Token dropping under expert parallelism keeps exactly what one rank keeps:
// per-expert capacity is decided over each rank's micro-batch (one rank
// accumulating the same micro-batches decides alike), the per-device budget
// over the whole EP group's tokens (one rank routing them at once).
#include <gtest/gtest.h>

#include "core/autograd.h"
#include "core/ops.h"
#include "model/moe_layer.h"
#include "tests/mpi_test_util.h"

namespace moe::model {
namespace {

config::ModelConfig dropping_config(config::DropPolicy policy, int64_t groups) {
  config::ModelConfig c;
  c.set_d_model(16);
  c.set_init_std(0.5);
  auto* m = c.mutable_moe();
  m->set_num_routed_experts(8);
  m->set_expert_ffn_dim(8);
  m->set_top_k(2);
  m->set_num_groups(groups);
  m->set_top_k_groups(groups);
  m->set_drop_policy(policy);
  m->set_capacity_factor(1.0);
  m->set_protected_sequence_fraction(0.25);
  return c;
}

constexpr int64_t kSeq = 6, kPerRank = 2;

Tensor input(int64_t batch, int64_t dim) { return randn({batch, kSeq, dim}, 11, 3); }

BatchInfo info_for(int64_t first, int64_t count) {
  BatchInfo b;
  b.seed = 5;
  for (int64_t i = 0; i < count; ++i) b.global_sequence.push_back(first + i);
  return b;
}

struct Forward {
  std::vector<uint8_t> keep;
  Tensor out;
  int64_t dropped = 0;
};

Forward run(MoeLayer& layer, const Tensor& x, const BatchInfo& info) {
  NoGradGuard no_grad;
  Forward f;
  f.out = layer.forward(x, info);
  f.keep = layer.stats().keep;
  f.dropped = layer.stats().dropped;
  return f;
}

// Each rank runs its kPerRank sequences on the EP layer and compares the
// kept flags and the outputs with the single-rank reference.
void check(config::DropPolicy policy) {
  comm::Communicator& world = test::test_world();
  const int W = world.size();
  parallel::Mesh mesh(world.split(0, world.rank(), "world"), 1, W);
  const config::ModelConfig c = dropping_config(policy, policy == config::DROP_DEVICE_BUDGET ? W : 1);
  const int64_t B = kPerRank * W, first = world.rank() * kPerRank, D = c.d_model();
  const Tensor x = input(B, D);

  MoeLayer parallel_layer(c, 0.5, Layout{&mesh});
  parallel_layer.init_parameters(9);
  const Forward got = run(parallel_layer, narrow(x, 0, first, kPerRank), info_for(first, kPerRank));

  MoeLayer ref_layer(c, 0.5);
  ref_layer.init_parameters(9);
  Forward want;
  if (policy == config::DROP_DEVICE_BUDGET) {
    // The whole EP group's tokens at once; this rank's part of the result.
    const Forward all = run(ref_layer, x, info_for(0, B));
    const int64_t per = kPerRank * kSeq * c.moe().top_k();
    want.keep.assign(all.keep.begin() + first * kSeq * c.moe().top_k(),
                     all.keep.begin() + first * kSeq * c.moe().top_k() + per);
    want.out = narrow(all.out, 0, first, kPerRank);
    int64_t dropped = 0;
    for (uint8_t k : all.keep) dropped += !k;
    EXPECT_GT(dropped, 0) << "the case must drop something to mean anything";
  } else {
    // The same micro-batch, as one rank accumulating micro-batches sees it.
    want = run(ref_layer, narrow(x, 0, first, kPerRank), info_for(first, kPerRank));
    const int64_t total = comm::all_reduce_values(world, std::vector<int64_t>{want.dropped}, comm::ReduceOp::sum)[0];
    EXPECT_GT(total, 0) << "the case must drop something to mean anything";
  }
  EXPECT_EQ(got.keep, want.keep);
  const double diff = amax(abs(sub(got.out, want.out))).item(), scale = amax(abs(want.out)).item();
  EXPECT_LE(diff, 1e-5 * scale) << "outputs differ by " << diff;
}

TEST(MpiDropping, ExpertCapacityPerMicroBatch) {
  MOE_REQUIRE_WORLD(MOE_WORLD_SIZE == 2 || MOE_WORLD_SIZE == 4);
  check(config::DROP_EXPERT_CAPACITY);
}

TEST(MpiDropping, DeviceBudgetOverTheEpGroup) {
  MOE_REQUIRE_WORLD(MOE_WORLD_SIZE == 2 || MOE_WORLD_SIZE == 4);
  check(config::DROP_DEVICE_BUDGET);
}

}  // namespace
}  // namespace moe::model
