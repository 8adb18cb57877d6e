// Retention: the last K plus every Nth step survive a commit.
#include <filesystem>

#include "checkpoint/checkpoint.h"
#include "checkpoint/retention.h"
#include "tests/checkpoint/ckpt_test_util.h"
#include "tests/mpi_test_util.h"

namespace moe::checkpoint {
namespace {

std::vector<int64_t> steps_under(const std::string& root) {
  std::vector<int64_t> out;
  for (const std::string& d : list_steps(root)) out.push_back(step_of_dir(d));
  return out;
}

absl::Status save(const std::string& root, int64_t step, SaveOptions o) {
  return save_checkpoint(test::test_world(), root, step, {{"w", testing::global_tensor({2}), {}, true}}, {}, o)
      .status();
}

TEST(CheckpointRetention, KeepsTheLastKAndEveryNth) {
  const std::string root = testing::temp_root();
  for (int64_t s = 1; s <= 10; ++s) ASSERT_TRUE(save(root, s, {.keep_last = 2, .keep_every = 4}).ok());
  EXPECT_EQ(steps_under(root), (std::vector<int64_t>{4, 8, 9, 10}));
  for (const auto& e : std::filesystem::directory_iterator(root))
    EXPECT_NE(e.path().filename().string()[0], '.') << "leftover " << e.path();
}

TEST(CheckpointRetention, KeepLastZeroKeepsEverything) {
  const std::string root = testing::temp_root();
  for (int64_t s = 1; s <= 4; ++s) ASSERT_TRUE(save(root, s, {.keep_last = 0}).ok());
  EXPECT_EQ(steps_under(root), (std::vector<int64_t>{1, 2, 3, 4}));
}

TEST(CheckpointRetention, NeverDeletesTheCheckpointJustCommitted) {
  // A run resumed from step 2 and saves step 3 while steps 5 and 6 of the
  // abandoned run exist (e.g. 6 was corrupted and the run fell back): step 3
  // is what latest points to, it stays; the newer ones neither count towards
  // keep_last nor are deleted, so the good older ones are not pushed out.
  const std::string root = testing::temp_root();
  for (int64_t s : {2, 5, 6}) ASSERT_TRUE(save(root, s, {.keep_last = 0}).ok());
  ASSERT_TRUE(save(root, 3, {.keep_last = 1}).ok());
  EXPECT_EQ(steps_under(root), (std::vector<int64_t>{3, 5, 6}));
  EXPECT_EQ(*resolve(root, "latest"), root + "/step_00000003");
}

}  // namespace
}  // namespace moe::checkpoint
