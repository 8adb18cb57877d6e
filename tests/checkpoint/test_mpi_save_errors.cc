// Failed collective saves under mpirun: one rank's full disk or one rank's
// NaN fails the save on every rank with the same error naming that rank
// (and its file, or its tensor); nothing is committed or left behind, and
// the next save commits.
#include <cstdlib>
#include <filesystem>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "checkpoint/checkpoint.h"
#include "checkpoint/exchange.h"
#include "tests/checkpoint/ckpt_test_util.h"
#include "tests/mpi_test_util.h"

namespace moe::checkpoint {
namespace {

std::string shared_root(comm::Communicator& w) {
  return all_gather_strings(w, w.rank() == 0 ? testing::temp_root() : "")[0];
}

std::vector<SaveTensor> my_tensors(int64_t step, int r, int n) {
  const Tensor experts = testing::global_tensor({4 * n, 32, 8}, double(step));
  return {{"ffn.experts.w1", testing::slice_of(experts, 0, r, n), testing::spec(0, r, n), true},
          {"norm.weight", testing::global_tensor({64}, double(step)), {}, r == 0}};
}

void expect_root_on_step_1(comm::Communicator& w, const std::string& root) {
  w.barrier();
  EXPECT_EQ(*resolve(root, "latest"), root + "/step_00000001");
  EXPECT_FALSE(std::filesystem::exists(root + "/step_00000002"));
  EXPECT_FALSE(std::filesystem::exists(root + "/.tmp_step_00000002"));
  w.barrier();
}

TEST(MpiCheckpointSaveError, OneRanksFullDiskFailsTheSaveOnEveryRank) {
  MOE_REQUIRE_MIN_RANKS(2);
  comm::Communicator& w = test::test_world();
  const int n = w.size(), r = w.rank();
  const std::string root = shared_root(w);
  ASSERT_TRUE(save_checkpoint(w, root, 1, my_tensors(1, r, n), {}).ok());
  const std::string spec = absl::StrCat("ENOSPC:slice:2:", n - 1);
  setenv("MOE_CKPT_INJECT_WRITE_ERROR", spec.c_str(), 1);
  absl::StatusOr<SaveReport> rep = save_checkpoint(w, root, 2, my_tensors(2, r, n), {});
  unsetenv("MOE_CKPT_INJECT_WRITE_ERROR");
  ASSERT_FALSE(rep.ok());
  EXPECT_EQ(rep.status().code(), absl::StatusCode::kResourceExhausted) << rep.status();
  const std::string want =
      absl::StrCat("checkpoint step 2 not saved: rank ", n - 1, ": ", root, "/.tmp_step_00000002/rank_",
                   absl::StrFormat("%05d", n - 1), ".h5:/");
  EXPECT_EQ(std::string(rep.status().message()).rfind(want, 0), 0u) << rep.status();
  EXPECT_NE(rep.status().message().find("No space left on device"), std::string::npos) << rep.status();
  // The failing rank also gets its own part, for its own log; the others none.
  const std::string own = own_save_error(rep.status());
  if (r == n - 1) {
    EXPECT_NE(own.find(absl::StrFormat("rank_%05d.h5:/", n - 1)), std::string::npos) << own;
  } else {
    EXPECT_EQ(own, "");
  }
  expect_root_on_step_1(w, root);
  ASSERT_TRUE(save_checkpoint(w, root, 3, my_tensors(3, r, n), {}).ok());
  if (r == 0) {
    EXPECT_TRUE(verify_checkpoint(root + "/step_00000003").ok());
  }
  w.barrier();
}

TEST(MpiCheckpointSaveError, OneRanksNanFailsTheSaveOnEveryRank) {
  MOE_REQUIRE_MIN_RANKS(2);
  comm::Communicator& w = test::test_world();
  const int n = w.size(), r = w.rank();
  const std::string root = shared_root(w);
  ASSERT_TRUE(save_checkpoint(w, root, 1, my_tensors(1, r, n), {}).ok());
  std::vector<SaveTensor> ts = my_tensors(2, r, n);
  if (r == n - 1) ts[0].local.data<float>()[3] = std::numeric_limits<float>::quiet_NaN();
  absl::StatusOr<SaveReport> rep = save_checkpoint(w, root, 2, ts, {});
  ASSERT_FALSE(rep.ok());
  EXPECT_TRUE(is_nonfinite_error(rep.status())) << rep.status();
  EXPECT_EQ(rep.status().message(),
            absl::StrCat("checkpoint step 2 not saved: rank ", n - 1, ": non-finite values in 1 tensor: ffn.experts.w1 "
                         "(slice ", n - 1, " of ", n, " along dim 0): 1 non-finite value (first: nan at element 3)"));
  expect_root_on_step_1(w, root);
}

}  // namespace
}  // namespace moe::checkpoint
