// Crash safety: a child process SIGKILLed in the middle of a save (at each
// point of the commit protocol) leaves `latest` on the previous checkpoint,
// which verifies and loads; the next save cleans up and commits.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "checkpoint/checkpoint.h"
#include "comm/mpi_communicator.h"
#include "tests/checkpoint/ckpt_test_util.h"
#include "tests/mpi_test_util.h"

namespace moe::checkpoint {
namespace {

using testing::bitwise_equal;
using testing::global_tensor;
using testing::temp_root;

std::vector<SaveTensor> tensors_of(int64_t step) {
  return {{"a", global_tensor({64, 16}, double(step)), {}, true}, {"b", global_tensor({7}, double(step)), {}, true}};
}

// Runs a save of `step` in a child that kills itself at `point`; returns
// whether it died of SIGKILL.
bool save_killed_at(const std::string& root, int64_t step, const char* point) {
  const std::vector<SaveTensor> ts = tensors_of(step);  // built before fork: the child runs no ops
  const pid_t pid = fork();
  if (pid == 0) {
    setenv("MOE_CKPT_TEST_KILL", point, 1);
    std::unique_ptr<comm::Communicator> self = comm::self_communicator("world");
    (void)save_checkpoint(*self, root, step, ts, {});
    _exit(3);  // not reached when the kill point fires
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
}

void expect_step_loads(const std::string& dir, int64_t step) {
  ASSERT_TRUE(verify_checkpoint(dir).ok()) << verify_checkpoint(dir);
  for (const SaveTensor& t : tensors_of(step)) {
    absl::StatusOr<Tensor> got = testing::load_slice(dir, t.name, t.local.shape(), -1, 0, 1);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_TRUE(bitwise_equal(*got, t.local)) << t.name;
  }
}

class CheckpointAtomic : public ::testing::TestWithParam<const char*> {};

TEST_P(CheckpointAtomic, KillMidSaveKeepsThePreviousCheckpoint) {
  const std::string root = temp_root();
  ASSERT_TRUE(save_checkpoint(test::test_world(), root, 1, tensors_of(1), {}).ok());
  ASSERT_TRUE(save_killed_at(root, 2, GetParam())) << "the child was not killed at " << GetParam();

  absl::StatusOr<std::string> latest = resolve(root, "latest");
  ASSERT_TRUE(latest.ok()) << latest.status();
  EXPECT_EQ(*latest, root + "/step_00000001");
  expect_step_loads(*latest, 1);
  absl::StatusOr<Loadable> l = find_loadable(root, "latest");
  ASSERT_TRUE(l.ok()) << l.status();
  EXPECT_EQ(l->step_dir, root + "/step_00000001");

  // The next save removes the leftovers and commits.
  ASSERT_TRUE(save_checkpoint(test::test_world(), root, 3, tensors_of(3), {}, {.keep_last = 5}).ok());
  EXPECT_EQ(*resolve(root, "latest"), root + "/step_00000003");
  expect_step_loads(root + "/step_00000003", 3);
  for (const auto& e : std::filesystem::directory_iterator(root))
    EXPECT_NE(e.path().filename().string()[0], '.') << "leftover " << e.path();
}

INSTANTIATE_TEST_SUITE_P(KillPoints, CheckpointAtomic, ::testing::Values("after_file", "after_metadata", "after_rename"));

TEST(CheckpointAtomicReplace, KillWhileReplacingAStepKeepsIt) {
  // Saving step 1 again: the old step_1 is moved aside, then the new one is
  // renamed in; a kill between the two must not lose step 1.
  const std::string root = temp_root();
  ASSERT_TRUE(save_checkpoint(test::test_world(), root, 1, tensors_of(1), {}).ok());
  // Simulate the crash window by hand: old moved aside, no new directory.
  std::filesystem::rename(root + "/step_00000001", root + "/.old_step_00000001");
  absl::StatusOr<std::string> latest = resolve(root, "latest");
  ASSERT_TRUE(latest.ok()) << latest.status();
  expect_step_loads(*latest, 1);
  // The next save puts it back before anything else.
  ASSERT_TRUE(save_checkpoint(test::test_world(), root, 2, tensors_of(2), {}, {.keep_last = 5}).ok());
  expect_step_loads(root + "/step_00000001", 1);
}

}  // namespace
}  // namespace moe::checkpoint
