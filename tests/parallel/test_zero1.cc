// ZeRO-1: ownership planning, and on every (tp, ep) layout the sharded step
// lands bitwise where GradSync + the unsharded optimizer do (AdamW, Muon,
// f32 or bf16 moments),
// with the optimizer state of each owned parameter equal to the unsharded
// one's; the grad norm from the owned shards.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>

#include "core/error.h"
#include "core/ops.h"
#include "optim/optimizer.h"
#include "parallel/grad_norm.h"
#include "parallel/grad_sync.h"
#include "parallel/zero1.h"
#include "tests/parallel/grad_test_util.h"

namespace moe::parallel {
namespace {

using namespace testing;

ClassedParam sized(const std::string& name, int64_t n, ParamClass cls) { return {name, zeros({n}), cls}; }

TEST(Zero1Owners, LargestFirstToTheLeastLoadedRank) {
  const std::vector<ClassedParam> ps = {sized("a", 10, ParamClass::replicated), sized("b", 7, ParamClass::tp_sharded),
                                        sized("c", 5, ParamClass::replicated),  sized("d", 6, ParamClass::expert),
                                        sized("e", 6, ParamClass::expert),      sized("f", 3, ParamClass::replicated)};
  // dp group: a(10)->0, b(7)->1, c(5)->1, f(3)->0; edp group: d->0, e->1 (tie: registration order).
  EXPECT_EQ(plan_zero1_owners(ps, 2, 2), (std::vector<int>{0, 1, 1, 0, 1, 0}));
  EXPECT_EQ(plan_zero1_owners(ps, 1, 1), (std::vector<int>(6, 0)));
  // More ranks than parameters: some own nothing.
  EXPECT_EQ(plan_zero1_owners(ps, 8, 4), (std::vector<int>{0, 1, 2, 0, 1, 3}));
}

TEST(Zero1Owners, BalancedWithinTheLargestParameter) {
  std::vector<ClassedParam> ps;
  for (int i = 0; i < 40; ++i) ps.push_back(sized(std::string("p").append(std::to_string(i)), 1 + (i * 37) % 23, ParamClass::tp_sharded));
  const std::vector<int> owners = plan_zero1_owners(ps, 3, 1);
  EXPECT_EQ(owners, plan_zero1_owners(ps, 3, 1));
  std::vector<int64_t> load(3, 0);
  for (size_t i = 0; i < ps.size(); ++i) load[size_t(owners[i])] += ps[i].param.numel();
  EXPECT_LE(*std::max_element(load.begin(), load.end()) - *std::min_element(load.begin(), load.end()), 23);
}

bool same_tensor_bits(const Tensor& a, const Tensor& b) {
  const Tensor x = a.contiguous(), y = b.contiguous();
  return x.shape() == y.shape() && x.dtype() == y.dtype() &&
         std::memcmp(x.raw_data(), y.raw_data(), size_t(x.numel()) * dtype_size(x.dtype())) == 0;
}

std::vector<optim::NamedParam> named(const std::vector<ClassedParam>& ps) {
  std::vector<optim::NamedParam> out;
  for (const ClassedParam& p : ps) out.push_back({p.name, p.param});
  return out;
}

// Three steps of Zero1 against GradSync + the unsharded optimizer.
void expect_matches_unsharded(Mesh& mesh, config::OptimizerKind kind,
                              config::MomentDtype moments = config::MOMENT_FP32) {
  const std::vector<ParamSpec> specs = mixed_specs();
  const int me = mesh.rank();
  std::vector<ClassedParam> ref = make_params(specs, mesh.sizes(), me);
  std::vector<ClassedParam> sh = clone_params(ref);
  config::OptimizerConfig cfg;
  cfg.set_kind(kind);
  cfg.set_moment_dtype(moments);
  GradSync gs(mesh, ref, {.overlap = false});
  auto opt = optim::make_optimizer(cfg, named(ref));
  Zero1 zero(mesh, sh, cfg);
  for (int step = 0; step < 3; ++step) {
    SCOPED_TRACE(::testing::Message() << "step " << step);
    const double lr = 0.01 * (step + 1);
    set_grads(ref, specs, me, step);
    gs.finish();
    opt->step(lr);
    set_grads(sh, specs, me, step);
    zero.reduce_gradients();
    for (size_t i = 0; i < sh.size(); ++i) {
      if (zero.owns(i))
        EXPECT_TRUE(same_tensor_bits(sh[i].param.grad(), ref[i].param.grad())) << specs[i].name;
      else
        EXPECT_FALSE(sh[i].param.grad().defined()) << specs[i].name;
    }
    zero.step(lr);
    for (size_t i = 0; i < sh.size(); ++i)
      EXPECT_TRUE(same_tensor_bits(sh[i].param, ref[i].param)) << specs[i].name;
    opt->zero_grad();
    zero.zero_grad();
  }
  // The local shard's state is the unsharded state of the owned parameters.
  const optim::NamedTensors full = opt->state(), mine = zero.state();
  size_t expected = 0;
  for (size_t i : zero.owned())
    for (const auto& [name, t] : full)
      if (name.rfind(specs[i].name + ".", 0) == 0) ++expected;
  EXPECT_EQ(mine.size(), expected);
  for (const auto& [name, t] : mine) {
    auto it = std::find_if(full.begin(), full.end(), [&](const auto& e) { return e.first == name; });
    ASSERT_NE(it, full.end()) << name;
    EXPECT_TRUE(same_tensor_bits(t, it->second)) << name;
    if (!name.ends_with(".step"))
      EXPECT_EQ(t.dtype(), moments == config::MOMENT_BF16 ? DType::bf16 : DType::f32) << name;
  }
}

TEST(Zero1Single, OneRankIsTheUnshardedOptimizer) {
  auto mesh = Mesh::single();
  expect_matches_unsharded(*mesh, config::OPTIMIZER_ADAMW);
  expect_matches_unsharded(*mesh, config::OPTIMIZER_MUON);
  expect_matches_unsharded(*mesh, config::OPTIMIZER_ADAMW, config::MOMENT_BF16);
}

TEST(Zero1Single, RejectsNonContiguousParameters) {
  auto mesh = Mesh::single();
  std::vector<ClassedParam> ps = {{"w", zeros({3, 2}).transpose(0, 1), ParamClass::replicated}};
  try {
    Zero1 z(*mesh, ps, config::OptimizerConfig());
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'w'"), std::string::npos) << e.what();
  }
}

TEST(MpiZero1, AdamWMatchesUnshardedBitwiseOnEveryLayout) {
  MOE_REQUIRE_MIN_RANKS(2);
  for (auto [tp, ep] : layouts(MOE_WORLD_SIZE)) {
    SCOPED_TRACE(::testing::Message() << "tp " << tp << " ep " << ep);
    auto mesh = make_mesh(tp, ep);
    expect_matches_unsharded(*mesh, config::OPTIMIZER_ADAMW);
  }
}

TEST(MpiZero1, MuonMatchesUnshardedBitwiseOnEveryLayout) {
  MOE_REQUIRE_MIN_RANKS(2);
  for (auto [tp, ep] : layouts(MOE_WORLD_SIZE)) {
    SCOPED_TRACE(::testing::Message() << "tp " << tp << " ep " << ep);
    auto mesh = make_mesh(tp, ep);
    expect_matches_unsharded(*mesh, config::OPTIMIZER_MUON);
  }
}

TEST(MpiZero1, Bf16MomentsMatchUnshardedBitwiseOnEveryLayout) {
  MOE_REQUIRE_MIN_RANKS(2);
  for (auto [tp, ep] : layouts(MOE_WORLD_SIZE)) {
    SCOPED_TRACE(::testing::Message() << "tp " << tp << " ep " << ep);
    auto mesh = make_mesh(tp, ep);
    expect_matches_unsharded(*mesh, config::OPTIMIZER_ADAMW, config::MOMENT_BF16);
    expect_matches_unsharded(*mesh, config::OPTIMIZER_MUON, config::MOMENT_BF16);
  }
}

TEST(MpiZero1, EveryParameterHasOneOwnerInItsGroup) {
  MOE_REQUIRE_MIN_RANKS(2);
  for (auto [tp, ep] : layouts(MOE_WORLD_SIZE)) {
    SCOPED_TRACE(::testing::Message() << "tp " << tp << " ep " << ep);
    auto mesh = make_mesh(tp, ep);
    std::vector<ClassedParam> ps = make_params(mixed_specs(), mesh->sizes(), mesh->rank());
    Zero1 zero(*mesh, ps, config::OptimizerConfig());
    for (size_t i = 0; i < ps.size(); ++i) {
      const std::vector<int64_t> owners =
          comm::all_reduce_values(zero1_shard_group(*mesh, ps[i].cls), std::vector<int64_t>{int64_t(zero.owns(i))}, comm::ReduceOp::sum);
      EXPECT_EQ(owners[0], 1) << ps[i].name;
    }
  }
}

TEST(MpiZero1, GradNormFromOwnedShardsEqualsTheReplicaNorm) {
  MOE_REQUIRE_MIN_RANKS(2);
  const std::vector<ParamSpec> specs = mixed_specs();
  for (auto [tp, ep] : layouts(MOE_WORLD_SIZE)) {
    SCOPED_TRACE(::testing::Message() << "tp " << tp << " ep " << ep);
    auto mesh = make_mesh(tp, ep);
    std::vector<ClassedParam> ref = make_params(specs, mesh->sizes(), mesh->rank());
    std::vector<ClassedParam> sh = clone_params(ref);
    GradSync gs(*mesh, ref, {.overlap = false});
    Zero1 zero(*mesh, sh, config::OptimizerConfig());
    set_grads(ref, specs, mesh->rank(), 2);
    gs.finish();
    set_grads(sh, specs, mesh->rank(), 2);
    zero.reduce_gradients();
    const double want = global_grad_norm(*mesh, ref), got = zero.grad_norm();
    EXPECT_NEAR(got, want, 1e-12 * want);
    EXPECT_EQ(comm::all_reduce_values(mesh->world(), std::vector<double>{got}, comm::ReduceOp::max)[0], got);
    EXPECT_EQ(zero.clip_grad_norm(want / 4), got);
    EXPECT_NEAR(zero.grad_norm(), want / 4, 1e-5 * want);
  }
}

}  // namespace
}  // namespace moe::parallel
