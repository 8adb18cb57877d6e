// The writer rules (checkpoint/plan.h) give exactly one writer per slice on
// every layout of 4 ranks, with and without ZeRO-1, for parameters and
// optimizer state (moments sliced like their parameter, step counters whole).
#include <map>

#include "checkpoint/plan.h"
#include "checkpoint/region.h"
#include "tests/checkpoint/ckpt_test_util.h"

namespace moe::checkpoint {
namespace {

using parallel::ParamClass;
using parallel::ShardSpec;

struct FakeNamed {
  std::string name;
  Tensor tensor;
  ShardSpec shard;
};

// The parameters one rank of (world 4, tp, ep) holds, as model/ shards them.
std::vector<FakeNamed> params_of(const Place& p, int tp, int ep) {
  const ShardSpec tp_split = tp == 1 ? ShardSpec{} : ShardSpec{ParamClass::tp_sharded, 0, p.tp_rank, tp};
  const ShardSpec ep_split{ParamClass::expert, ep > 1 ? 0 : -1, ep > 1 ? p.ep_rank : 0, ep > 1 ? ep : 1};
  return {{"norm.weight", zeros({4}), {}},
          {"attn.wq.weight", zeros({8 / tp, 4}), tp_split},
          {"ffn.experts.w1", zeros({4 / ep, 2, 2}), ep_split}};
}

// ZeRO-1 ownership: parameter i is owned by group rank i % group size
// (dp for replicated/tp_sharded, edp for experts); only owners hold state.
bool owns(size_t i, const FakeNamed& n, const Place& p, int world, int tp, int ep) {
  if (n.shard.cls == ParamClass::expert) return p.edp_rank == int(i) % (world / ep);
  return p.dp_rank == int(i) % (world / tp);
}

void add(std::map<std::string, TensorRecord>& recs, const SaveTensor& t, int rank) {
  TensorRecord& r = recs[t.name];
  if (r.name().empty()) {
    r.set_name(t.name);
    for (int64_t d : t.shard.global_shape(t.local.shape())) r.add_global_shape(d);
  }
  SliceRecord* s = r.add_slices();
  s->set_dim(t.shard.dim < 0 ? -1 : t.shard.dim);
  s->set_index(t.shard.dim < 0 ? 0 : t.shard.index);
  s->set_count(t.shard.dim < 0 ? 1 : t.shard.count);
  s->set_rank(rank);
}

TEST(CheckpointPlan, OneWriterPerSliceOnEveryLayout) {
  const int world = 4;
  for (int tp : {1, 2, 4})
    for (int ep : {1, 2, 4})
      for (bool zero1 : {false, true}) {
        SCOPED_TRACE(::testing::Message() << "tp " << tp << " ep " << ep << " zero1 " << zero1);
        std::map<std::string, TensorRecord> recs;
        for (int r = 0; r < world; ++r) {
          const Place p{r, r % tp, r / tp, r % ep, r / ep};
          const std::vector<FakeNamed> params = params_of(p, tp, ep);
          for (const SaveTensor& t : model_save_tensors(params, p))
            if (t.write) add(recs, t, r);
          NamedTensorList state;
          for (size_t i = 0; i < params.size(); ++i) {
            if (zero1 && !owns(i, params[i], p, world, tp, ep)) continue;
            state.emplace_back(params[i].name + ".exp_avg", zeros(params[i].tensor.shape()));
            state.emplace_back(params[i].name + ".step", zeros({}, DType::i64));
          }
          absl::StatusOr<std::vector<SaveTensor>> st = state_save_tensors(state, param_shards(params), p, zero1);
          ASSERT_TRUE(st.ok()) << st.status();
          for (const SaveTensor& t : *st)
            if (t.write) add(recs, t, r);
        }
        EXPECT_EQ(recs.size(), 9u);  // 3 parameters, 3 moments, 3 counters
        for (const auto& [name, rec] : recs) EXPECT_TRUE(check_tiling(rec).ok()) << check_tiling(rec);
      }
}

TEST(CheckpointPlan, StateShardFollowsTheParameter) {
  const std::vector<ParamShard> params{{"ffn.experts.w1", {2, 2, 2}, {ParamClass::expert, 0, 1, 2}}};
  absl::StatusOr<ShardSpec> m = state_shard("ffn.experts.w1.exp_avg", zeros({2, 2, 2}), params);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->dim, 0);
  EXPECT_EQ(m->index, 1);
  absl::StatusOr<ShardSpec> s = state_shard("ffn.experts.w1.step", zeros({}, DType::i64), params);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->dim, -1);
  absl::StatusOr<ShardSpec> bad = state_shard("ffn.experts.w9.step", zeros({}, DType::i64), params);
  EXPECT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("ffn.experts.w9.step"), std::string::npos);
}

TEST(CheckpointPlan, OptimizerStateReshardsThroughSaveAndLoad) {
  // EP2 ranks' moments saved (simulated), loaded back whole on one rank.
  const std::string root = testing::temp_root();
  const Tensor g = testing::global_tensor({4, 2, 2}, 3);
  std::vector<std::vector<SaveTensor>> per(2);
  for (int r = 0; r < 2; ++r) {
    const Place p{r, 0, r, r, 0};
    const std::vector<ParamShard> params{{"w1", {2, 2, 2}, {ParamClass::expert, 0, r, 2}}};
    Tensor step = zeros({}, DType::i64);
    *step.data<int64_t>() = 17;
    absl::StatusOr<std::vector<SaveTensor>> st = state_save_tensors(
        {{"w1.exp_avg", testing::slice_of(g, 0, r, 2)}, {"w1.step", step}}, params, p, /*zero1=*/false);
    ASSERT_TRUE(st.ok());
    per[size_t(r)] = *st;
  }
  ASSERT_TRUE(testing::save_simulated(root, 4, per).ok());
  const std::string dir = root + "/step_00000004";
  absl::StatusOr<CheckpointMeta> meta = read_metadata(dir);
  ASSERT_TRUE(meta.ok());
  const std::vector<ParamShard> one{{"w1", {4, 2, 2}, {ParamClass::expert, -1, 0, 1}}};
  Tensor m = zeros({4, 2, 2}), step = zeros({}, DType::i64);
  ASSERT_TRUE(load_state_tensors(dir, *meta, {{"w1.exp_avg", m}, {"w1.step", step}}, one).ok());
  EXPECT_TRUE(testing::bitwise_equal(m, g));
  EXPECT_EQ(*step.data<int64_t>(), 17);
}

}  // namespace
}  // namespace moe::checkpoint
