// Makes the checkpoints the moe-ckpt tests (mpi_tests.cmake) look at:
// $MOE_CKPT_CLI_DIR/good (a root, latest = step 5), .../bad (step 5 with
// a corrupted expert tensor) and .../nan (step 5 whose norm.weight holds
// two NaNs, written through the rank-local steps, which do not refuse
// them). Skips unless MOE_CKPT_CLI_DIR is set.
#include <cstdlib>
#include <filesystem>
#include <limits>

#include "checkpoint/checkpoint.h"
#include "tests/checkpoint/ckpt_test_util.h"
#include "tests/mpi_test_util.h"

namespace moe::checkpoint {
namespace {

TEST(CheckpointCli, MakeCheckpoints) {
  const char* dir = std::getenv("MOE_CKPT_CLI_DIR");
  if (!dir) GTEST_SKIP() << "MOE_CKPT_CLI_DIR not set (ctest's checkpoint_cli_setup sets it)";
  std::filesystem::remove_all(dir);
  CheckpointMeta meta;
  meta.set_tokens_seen(640);
  const std::vector<SaveTensor> ts{{"layers.0.ffn.experts.w1", testing::global_tensor({4, 3, 2}), {}, true},
                                   {"norm.weight", testing::global_tensor({3}), {}, true}};
  for (const char* which : {"good", "bad"}) {
    absl::StatusOr<SaveReport> r = save_checkpoint(test::test_world(), std::string(dir) + "/" + which, 5, ts, meta);
    ASSERT_TRUE(r.ok()) << r.status();
  }
  const std::string file = std::string(dir) + "/bad/step_00000005/rank_00000.h5";
  const int64_t off = testing::data_offset(file, "/layers.0.ffn.experts.w1");
  ASSERT_GT(off, 0);
  testing::flip_byte(file, off + 3);

  std::vector<SaveTensor> nan = ts;
  nan[1].local = nan[1].local.clone();
  nan[1].local.data<float>()[0] = nan[1].local.data<float>()[2] = std::numeric_limits<float>::quiet_NaN();
  const absl::Status st = testing::save_simulated(std::string(dir) + "/nan", 5, {nan}, meta);
  ASSERT_TRUE(st.ok()) << st;
}

}  // namespace
}  // namespace moe::checkpoint
