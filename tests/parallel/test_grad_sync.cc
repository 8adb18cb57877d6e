// GradSync: bucketing, the gradient rule per class on every (tp, ep) layout,
// hook mode (overlap with backward, same bits as finish-only mode, gradient
// accumulation), the layout check, router load counts, the global grad norm.
#include <gtest/gtest.h>

#include <cmath>

#include "core/autograd.h"
#include "core/error.h"
#include "core/ops.h"
#include "optim/clip.h"
#include "parallel/grad_norm.h"
#include "parallel/grad_sync.h"
#include "tests/parallel/grad_test_util.h"

namespace moe::parallel {
namespace {

using namespace testing;

ClassedParam leaf(const std::string& name, const Shape& s, ParamClass cls) {
  Tensor t = zeros(s);
  t.set_requires_grad(true);
  return {name, t, cls};
}

// ---- single rank ----

TEST(GradBuckets, ReverseOrderPerClassWithinTheCap) {
  // 4-byte floats; cap 40 bytes = 10 elements.
  std::vector<ClassedParam> ps = {leaf("a", {4}, ParamClass::replicated), leaf("b", {4}, ParamClass::tp_sharded),
                                  leaf("c", {4}, ParamClass::replicated), leaf("d", {4}, ParamClass::replicated),
                                  leaf("e", {2}, ParamClass::tp_sharded)};
  const std::vector<GradBucket> b = plan_grad_buckets(ps, 40);
  ASSERT_EQ(b.size(), 3u);
  // Walk: e (tp bucket 0), d (rep bucket 1), c (rep bucket 1), b (tp bucket 0), a (rep: full -> bucket 2).
  EXPECT_EQ(b[0].cls, ParamClass::tp_sharded);
  EXPECT_EQ(b[0].params, (std::vector<size_t>{4, 1}));
  EXPECT_EQ(b[0].offsets, (std::vector<int64_t>{0, 2}));
  EXPECT_EQ(b[0].numel, 6);
  EXPECT_EQ(b[1].cls, ParamClass::replicated);
  EXPECT_EQ(b[1].params, (std::vector<size_t>{3, 2}));
  EXPECT_EQ(b[2].params, (std::vector<size_t>{0}));
}

TEST(GradBuckets, OversizedParameterGetsItsOwnBucket) {
  std::vector<ClassedParam> ps = {leaf("small", {2}, ParamClass::expert), leaf("big", {100}, ParamClass::expert),
                                  leaf("tiny", {1}, ParamClass::expert)};
  const std::vector<GradBucket> b = plan_grad_buckets(ps, 16);
  ASSERT_EQ(b.size(), 3u);
  EXPECT_EQ(b[0].params, (std::vector<size_t>{2}));
  EXPECT_EQ(b[1].params, (std::vector<size_t>{1}));
  EXPECT_EQ(b[2].params, (std::vector<size_t>{0}));
  EXPECT_THROW(plan_grad_buckets(ps, 0), Error);
}

TEST(GradSyncSingle, FinishWritesZerosForMissingGradients) {
  auto mesh = Mesh::single();
  std::vector<ClassedParam> ps = {leaf("w", {3}, ParamClass::replicated), leaf("u", {2}, ParamClass::expert)};
  ps[0].param.set_grad(from_vector({1, 2, 3}, {3}));
  GradSync gs(*mesh, ps, {.bucket_bytes = 1 << 20, .overlap = false});
  gs.finish();
  EXPECT_EQ(ps[0].param.grad().to_vector(), (std::vector<double>{1, 2, 3}));
  ASSERT_TRUE(ps[1].param.grad().defined());
  EXPECT_EQ(ps[1].param.grad().to_vector(), (std::vector<double>{0, 0}));
}

TEST(GradSyncSingle, SecondBackwardWithSyncEnabledIsAnError) {
  auto mesh = Mesh::single();
  std::vector<ClassedParam> ps = {leaf("w", {3}, ParamClass::replicated)};
  GradSync gs(*mesh, ps);
  sum(mul(ps[0].param, 2.0)).backward();
  EXPECT_EQ(gs.buckets_started(), 1);
  EXPECT_THROW(sum(mul(ps[0].param, 2.0)).backward(), Error);
  gs.finish();
  EXPECT_EQ(gs.buckets_started(), 0);
  EXPECT_TRUE(gs.sync_enabled());
}

TEST(GradSyncSingle, RejectsParametersThatTakeNoHooks) {
  auto mesh = Mesh::single();
  std::vector<ClassedParam> ps = {{"frozen", zeros({2}), ParamClass::replicated}};
  EXPECT_THROW((GradSync{*mesh, ps}), Error);
  EXPECT_NO_THROW((GradSync{*mesh, ps, {.overlap = false}}));
}

TEST(GradSyncSingle, HooksAreRemovedWithTheSync) {
  auto mesh = Mesh::single();
  std::vector<ClassedParam> ps = {leaf("w", {3}, ParamClass::replicated)};
  { GradSync gs(*mesh, ps); }
  EXPECT_TRUE(ps[0].param.impl()->post_accumulate_hooks.empty());
}

TEST(GradNormSingle, EqualsTheLocalClipNorm) {
  auto mesh = Mesh::single();
  std::vector<ClassedParam> ps = {leaf("a", {2}, ParamClass::replicated), leaf("b", {2}, ParamClass::tp_sharded),
                                  leaf("c", {1}, ParamClass::expert)};
  ps[0].param.set_grad(from_vector({3, 0}, {2}));
  ps[1].param.set_grad(from_vector({0, 4}, {2}));
  ps[2].param.set_grad(from_vector({12}, {1}));
  EXPECT_DOUBLE_EQ(global_grad_norm(*mesh, ps), 13.0);
  EXPECT_DOUBLE_EQ(global_grad_norm(*mesh, ps, GradLayout::zero1_owned), 13.0);
  EXPECT_DOUBLE_EQ(clip_global_grad_norm(*mesh, ps, 6.5), 13.0);
  EXPECT_NEAR(global_grad_norm(*mesh, ps), 6.5, 1e-6);
}

// ---- several ranks ----

// Finish-only mode against the rule computed from every rank's inputs
// (hook mode is checked against finish-only mode below).
TEST(MpiGradSync, EveryLayoutFollowsTheGradientRule) {
  const int w = MOE_WORLD_SIZE;
  MOE_REQUIRE_MIN_RANKS(2);
  const std::vector<ParamSpec> specs = mixed_specs();
  for (auto [tp, ep] : layouts(w)) {
    SCOPED_TRACE(::testing::Message() << "tp " << tp << " ep " << ep);
    auto mesh = make_mesh(tp, ep);
    const int me = mesh->rank();
    for (int64_t bucket_bytes : {int64_t(64), int64_t(16) << 20}) {
      std::vector<ClassedParam> ps = make_params(specs, mesh->sizes(), me);
      GradSync gs(*mesh, ps, {.bucket_bytes = bucket_bytes, .overlap = false});
      set_grads(ps, specs, me, 0);
      gs.finish();
      for (size_t i = 0; i < ps.size(); ++i) {
        SCOPED_TRACE(specs[i].name);
        ASSERT_TRUE(ps[i].param.grad().defined());
        const std::vector<float> got = floats(ps[i].param.grad());
        EXPECT_TRUE(same_bits(got, reference_grad(specs[i], mesh->sizes(), me, 0)));
        EXPECT_TRUE(same_on_group(grad_sum_group(*mesh, specs[i].cls), got));
      }
    }
  }
}

// A chain h = x * p_0 * p_1 * ... * p_{n-1}: backward finishes p_{n-1} first
// and p_0 last; with one parameter per bucket the first buckets must already
// be in flight when p_0's gradient arrives. "gap" is used only on even ranks.
struct Chain {
  std::vector<ParamSpec> specs;
  std::vector<ClassedParam> params;
};

Chain make_chain(const MeshSizes& s, int rank) {
  Chain c;
  const ParamClass classes[] = {ParamClass::replicated, ParamClass::tp_sharded, ParamClass::expert};
  for (int k = 0; k < 6; ++k)
    c.specs.push_back({"chain." + std::to_string(k), {4}, classes[k % 3]});
  c.specs.push_back({"gap", {4}, ParamClass::replicated, true});
  c.params = make_params(c.specs, s, rank);
  return c;
}

void run_chain(Chain& c, int rank, int micro) {
  Tensor h = tensor_of(grad_values({"x", {4}, ParamClass::replicated}, rank, micro), {4});
  for (size_t k = 0; k + 1 < c.params.size(); ++k) h = mul(h, c.params[k].param);
  if (rank % 2 == 0) h = add(h, c.params.back().param);
  sum(h).backward();
}

TEST(MpiGradSync, HookModeOverlapsBackwardAndMatchesFinishOnly) {
  MOE_REQUIRE_MIN_RANKS(2);
  for (auto [tp, ep] : layouts(MOE_WORLD_SIZE)) {
    SCOPED_TRACE(::testing::Message() << "tp " << tp << " ep " << ep);
    auto mesh = make_mesh(tp, ep);
    const int me = mesh->rank();
    Chain hooked = make_chain(mesh->sizes(), me), plain = make_chain(mesh->sizes(), me);
    GradSync hs(*mesh, hooked.params, {.bucket_bytes = 16, .overlap = true});
    GradSync fs(*mesh, plain.params, {.bucket_bytes = 16, .overlap = false});
    ASSERT_EQ(hs.buckets().size(), hooked.params.size());
    int64_t started_when_p0_arrived = -1;
    hooked.params[0].param.register_hook([&](const Tensor&) {
      started_when_p0_arrived = hs.buckets_started();
      return Tensor();
    });
    run_chain(hooked, me, 0);
    // Buckets are started in order: on odd ranks "gap" (the first bucket)
    // never gets a gradient, so nothing can start before finish().
    if (me % 2 == 0) {
      EXPECT_EQ(started_when_p0_arrived, int64_t(hooked.params.size()) - 1);
      EXPECT_EQ(hs.buckets_started(), int64_t(hooked.params.size()));
    } else {
      EXPECT_EQ(hs.buckets_started(), 0);
    }
    hs.finish();
    run_chain(plain, me, 0);
    fs.finish();
    for (size_t i = 0; i < hooked.params.size(); ++i)
      EXPECT_TRUE(same_bits(floats(hooked.params[i].param.grad()), floats(plain.params[i].param.grad())))
          << hooked.specs[i].name;
  }
}

TEST(MpiGradSync, AccumulationCommunicatesOncePerStep) {
  MOE_REQUIRE_MIN_RANKS(2);
  auto mesh = make_mesh(MOE_WORLD_SIZE % 2 == 0 ? 2 : 1, MOE_WORLD_SIZE);
  const int me = mesh->rank();
  Chain hooked = make_chain(mesh->sizes(), me), plain = make_chain(mesh->sizes(), me);
  GradSync hs(*mesh, hooked.params, {.bucket_bytes = 32, .overlap = true});
  GradSync fs(*mesh, plain.params, {.bucket_bytes = 32, .overlap = false});
  for (int step = 0; step < 2; ++step) {
    for (int micro = 0; micro < 3; ++micro) {
      hs.set_sync_enabled(micro == 2);
      run_chain(hooked, me, micro);
      if (micro < 2) {
        EXPECT_EQ(hs.buckets_started(), 0);
      }
      run_chain(plain, me, micro);
    }
    hs.finish();
    fs.finish();
    for (size_t i = 0; i < hooked.params.size(); ++i) {
      EXPECT_TRUE(same_bits(floats(hooked.params[i].param.grad()), floats(plain.params[i].param.grad())))
          << hooked.specs[i].name;
      hooked.params[i].param.zero_grad();
      plain.params[i].param.zero_grad();
    }
  }
}

TEST(MpiGradSync, MismatchedParametersNameTheGroupAndParameter) {
  MOE_REQUIRE_MIN_RANKS(2);
  auto mesh = make_mesh(1, 1);
  std::vector<ClassedParam> ps = {leaf("same", {2}, ParamClass::replicated),
                                  leaf(mesh->rank() == 1 ? "odd_one" : "other", {2}, ParamClass::replicated)};
  try {
    GradSync gs(*mesh, ps);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("group 'world'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("position 1"), std::string::npos) << msg;
    EXPECT_NE(msg.find(mesh->rank() == 1 ? "'odd_one'" : "'other'"), std::string::npos) << msg;
  }
}

TEST(MpiGradSync, LoadCountsAreSummedOverTheWorld) {
  MOE_REQUIRE_MIN_RANKS(2);
  auto mesh = make_mesh(1, MOE_WORLD_SIZE);
  const int w = MOE_WORLD_SIZE, me = mesh->rank();
  const std::vector<double> got = all_reduce_load_counts(*mesh, {double(me), 1.0, double(me * me)});
  double sq = 0;
  for (int r = 0; r < w; ++r) sq += r * r;
  EXPECT_EQ(got, (std::vector<double>{w * (w - 1) / 2.0, double(w), sq}));
}

TEST(MpiGradSyncNorm, CountsEveryDistinctSliceOnceAndClips) {
  MOE_REQUIRE_MIN_RANKS(2);
  const std::vector<ParamSpec> specs = mixed_specs();
  for (auto [tp, ep] : layouts(MOE_WORLD_SIZE)) {
    SCOPED_TRACE(::testing::Message() << "tp " << tp << " ep " << ep);
    auto mesh = make_mesh(tp, ep);
    const MeshSizes& s = mesh->sizes();
    std::vector<ClassedParam> ps = make_params(specs, s, mesh->rank());
    GradSync gs(*mesh, ps, {.overlap = false});
    set_grads(ps, specs, mesh->rank(), 1);
    gs.finish();
    // Reference: one copy of every slice: tp slices 0..TP-1, expert slices
    // 0..EP-1 (world rank t holds tp slice t % TP and expert slice t % EP).
    double ref = 0;
    for (const ParamSpec& sp : specs) {
      const int slices = sp.cls == ParamClass::tp_sharded ? s.tp : sp.cls == ParamClass::expert ? s.ep : 1;
      for (int t = 0; t < slices; ++t)
        for (float v : reference_grad(sp, s, t, 1)) ref += double(v) * v;
    }
    const double norm = global_grad_norm(*mesh, ps);
    EXPECT_NEAR(norm, std::sqrt(ref), 1e-12 * std::sqrt(ref));
    EXPECT_EQ(comm::all_reduce_values(mesh->world(), std::vector<double>{norm}, comm::ReduceOp::max)[0], norm);
    EXPECT_EQ(-comm::all_reduce_values(mesh->world(), std::vector<double>{-norm}, comm::ReduceOp::max)[0], norm);
    const double before = clip_global_grad_norm(*mesh, ps, norm / 2);
    EXPECT_EQ(before, norm);
    EXPECT_NEAR(global_grad_norm(*mesh, ps), norm / 2, 1e-5 * norm);
  }
}

}  // namespace
}  // namespace moe::parallel
