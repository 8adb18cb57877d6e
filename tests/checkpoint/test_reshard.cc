// Resharding: slices saved by one layout (simulated ranks, each writing its
// own file) read back as the slices of another.
#include "checkpoint/checkpoint.h"
#include "tests/checkpoint/ckpt_test_util.h"

namespace moe::checkpoint {
namespace {

using testing::bitwise_equal;
using testing::global_tensor;
using testing::load_slice;
using testing::save_simulated;
using testing::sharded_over;
using testing::slice_of;
using testing::temp_root;

// Saves `global` sharded (save_dim, save_count), then checks every slice of
// (load_dim, load_count) against the same slice of the original.
void check_reshard(const Shape& shape, int save_dim, int save_count, int load_dim, int load_count) {
  const std::string root = temp_root();
  const Tensor g = global_tensor(shape, 1.0);
  ASSERT_TRUE(save_simulated(root, 10, sharded_over("x", g, save_dim, save_count)).ok());
  const std::string dir = root + "/step_00000010";
  ASSERT_TRUE(verify_checkpoint(dir).ok()) << verify_checkpoint(dir);
  absl::StatusOr<CheckpointMeta> meta = read_metadata(dir);
  ASSERT_TRUE(meta.ok());
  EXPECT_EQ(meta->files_size(), save_count);
  for (int r = 0; r < load_count; ++r) {
    absl::StatusOr<Tensor> got = load_slice(dir, "x", shape, load_dim, r, load_count);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_TRUE(bitwise_equal(*got, slice_of(g, load_dim, r, load_count))) << "slice " << r << " of " << load_count;
  }
}

// Expert weights [experts, d, f], experts split over EP ranks.
TEST(CheckpointReshard, Ep4ToEp2) { check_reshard({8, 4, 3}, 0, 4, 0, 2); }
TEST(CheckpointReshard, Ep4ToOneRank) { check_reshard({8, 4, 3}, 0, 4, -1, 1); }
TEST(CheckpointReshard, Ep2ToEp4) { check_reshard({8, 4, 3}, 0, 2, 0, 4); }
// Column-parallel weight split along dim 1 over TP ranks.
TEST(CheckpointReshard, Tp2ToTp1) { check_reshard({6, 8}, 1, 2, -1, 1); }
TEST(CheckpointReshard, WholeToTp2) { check_reshard({6, 8}, -1, 1, 1, 2); }
// A slice of another dimension: every saved slice overlaps each wanted one.
TEST(CheckpointReshard, Tp2AlongDim1ToSplitAlongDim0) { check_reshard({6, 8}, 1, 2, 0, 3); }

TEST(CheckpointReshard, MixedTensorsFromFourRanks) {
  // EP4 experts, TP2 x DP2 dense weight (written by dp_rank 0), a replicated
  // norm (rank 0), as the writer rules assign them.
  const std::string root = temp_root();
  const Tensor experts = global_tensor({4, 2, 2}, 0), dense = global_tensor({2, 4}, 100), norm = global_tensor({3}, 7);
  std::vector<std::vector<SaveTensor>> per(4);
  for (int r = 0; r < 4; ++r) {
    per[size_t(r)].push_back({"experts", slice_of(experts, 0, r, 4), testing::spec(0, r, 4), true});
    const int tp = r % 2, dp = r / 2;
    per[size_t(r)].push_back(
        {"dense", slice_of(dense, 1, tp, 2), testing::spec(1, tp, 2, parallel::ParamClass::tp_sharded), dp == 0});
    per[size_t(r)].push_back({"norm", norm, {}, r == 0});
  }
  ASSERT_TRUE(save_simulated(root, 2, per).ok());
  const std::string dir = root + "/step_00000002";
  for (auto [name, g] : {std::pair<const char*, Tensor>{"experts", experts}, {"dense", dense}, {"norm", norm}}) {
    absl::StatusOr<Tensor> whole = load_slice(dir, name, g.shape(), -1, 0, 1);
    ASSERT_TRUE(whole.ok()) << whole.status();
    EXPECT_TRUE(bitwise_equal(*whole, g)) << name;
  }
}

TEST(CheckpointReshard, TwoWritersOfOneSliceAreRejected) {
  const std::string root = temp_root();
  const Tensor norm = global_tensor({3});
  absl::Status st = save_simulated(root, 1, {{{"norm", norm, {}, true}}, {{"norm", norm, {}, true}}});
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("norm: ranks 0 and 1 both wrote"), std::string::npos) << st;
  EXPECT_TRUE(list_steps(root).empty());
}

TEST(CheckpointReshard, AMissingSliceIsRejected) {
  const std::string root = temp_root();
  auto per = sharded_over("x", global_tensor({4, 2}), 0, 4);
  per[2].clear();  // rank 2 forgot its slice
  absl::Status st = save_simulated(root, 1, per);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("x: the written slices cover 6 of 8 elements"), std::string::npos) << st;
}

TEST(CheckpointReshard, RanksDisagreeingOnTheGlobalShapeAreRejected) {
  const std::string root = temp_root();
  absl::Status st = save_simulated(root, 1,
                                   {{{"x", global_tensor({2, 2}), testing::spec(0, 0, 2), true}},
                                    {{"x", global_tensor({2, 3}), testing::spec(0, 1, 2), true}}});
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("x: rank 0 has global shape [4, 2] f32, rank 1 has [4, 3] f32"), std::string::npos)
      << st;
}

}  // namespace
}  // namespace moe::checkpoint
