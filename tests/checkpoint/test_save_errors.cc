// Saves that fail: a full disk (injected through MOE_CKPT_INJECT_WRITE_ERROR,
// or a real small tmpfs where mounting is permitted), an I/O error in the
// commit, no permission, too little free space, non-finite tensors. Each
// leaves the root as it was (no .tmp_, `latest` and the previous step
// intact), names the file and errno's text, leaves no HDF5 handle open, and
// the process can save again and exit cleanly.
#include <hdf5.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>

#include "absl/strings/str_cat.h"
#include "checkpoint/checkpoint.h"
#include "checkpoint/finite.h"
#include "checkpoint/space.h"
#include "checkpoint/test_hook.h"
#include "comm/mpi_communicator.h"
#include "tests/checkpoint/ckpt_test_util.h"
#include "tests/mpi_test_util.h"

namespace moe::checkpoint {
namespace {

namespace stdfs = std::filesystem;
using testing::global_tensor;
using testing::temp_root;

std::vector<SaveTensor> tensors_of(int64_t step, int n = 6) {
  std::vector<SaveTensor> ts;
  for (int i = 0; i < n; ++i)
    ts.push_back({absl::StrCat("t", i), global_tensor({256, 64}, double(step * 100 + i)), {}, true});
  return ts;
}

// Sets MOE_CKPT_INJECT_WRITE_ERROR for one scope.
struct Inject {
  explicit Inject(const char* spec) { setenv("MOE_CKPT_INJECT_WRITE_ERROR", spec, 1); }
  ~Inject() { unsetenv("MOE_CKPT_INJECT_WRITE_ERROR"); }
};

bool has(const absl::Status& s, const std::string& text) {
  return std::string(s.message()).find(text) != std::string::npos;
}

std::vector<std::string> dot_entries(const std::string& root) {
  std::vector<std::string> out;
  for (const auto& e : stdfs::directory_iterator(root))
    if (e.path().filename().string()[0] == '.') out.push_back(e.path().filename().string());
  return out;
}

// The root after a failed save of step 2 on top of step 1: as it was.
void expect_root_as_before(const std::string& root) {
  EXPECT_EQ(*resolve(root, "latest"), root + "/step_00000001");
  EXPECT_FALSE(stdfs::exists(root + "/step_00000002"));
  EXPECT_TRUE(dot_entries(root).empty()) << "leftover " << dot_entries(root)[0];
  EXPECT_FALSE(stdfs::exists(root + "/latest.tmp"));
  EXPECT_TRUE(verify_checkpoint(root + "/step_00000001").ok()) << verify_checkpoint(root + "/step_00000001");
  // Nothing of the failed file is still open in HDF5.
  EXPECT_EQ(H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL), 0);
}

// Then the same process saves again (HDF5 is in a sane state).
void expect_next_save_commits(const std::string& root) {
  absl::StatusOr<SaveReport> r = save_checkpoint(test::test_world(), root, 3, tensors_of(3), {}, {.keep_last = 5});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*resolve(root, "latest"), root + "/step_00000003");
  EXPECT_TRUE(verify_checkpoint(root + "/step_00000003").ok());
}

TEST(CheckpointSaveError, EnospcInASliceFileLeavesTheRootAsItWas) {
  const std::string root = temp_root();
  ASSERT_TRUE(save_checkpoint(test::test_world(), root, 1, tensors_of(1), {}).ok());
  absl::StatusOr<SaveReport> r = [&] {
    Inject in("ENOSPC:slice:2");
    return save_checkpoint(test::test_world(), root, 2, tensors_of(2), {});
  }();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted) << r.status();
  EXPECT_TRUE(has(r.status(), "checkpoint step 2 not saved: ")) << r.status();
  EXPECT_TRUE(has(r.status(), ".tmp_step_00000002/rank_00000.h5")) << r.status();
  EXPECT_TRUE(has(r.status(), "No space left on device")) << r.status();
  expect_root_as_before(root);
  expect_next_save_commits(root);
}

TEST(CheckpointSaveError, EnospcInTheMetadataLeavesTheRootAsItWas) {
  const std::string root = temp_root();
  ASSERT_TRUE(save_checkpoint(test::test_world(), root, 1, tensors_of(1), {}).ok());
  absl::StatusOr<SaveReport> r = [&] {
    Inject in("ENOSPC:metadata:2");
    return save_checkpoint(test::test_world(), root, 2, tensors_of(2), {});
  }();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted) << r.status();
  EXPECT_TRUE(has(r.status(), ".tmp_step_00000002/metadata.pb.tmp: No space left on device")) << r.status();
  expect_root_as_before(root);
  expect_next_save_commits(root);
}

TEST(CheckpointSaveError, EioWritingLatestTakesTheStepBackOut) {
  const std::string root = temp_root();
  ASSERT_TRUE(save_checkpoint(test::test_world(), root, 1, tensors_of(1), {}).ok());
  absl::StatusOr<SaveReport> r = [&] {
    Inject in("EIO:latest:2");
    return save_checkpoint(test::test_world(), root, 2, tensors_of(2), {});
  }();
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(has(r.status(), root + "/latest.tmp: Input/output error")) << r.status();
  expect_root_as_before(root);
  expect_next_save_commits(root);
}

TEST(CheckpointSaveError, PermissionDeniedNamesTheFile) {
  const std::string root = temp_root();
  ASSERT_TRUE(save_checkpoint(test::test_world(), root, 1, tensors_of(1), {}).ok());
  absl::StatusOr<SaveReport> r = [&] {
    Inject in("EACCES:slice:2+");
    return save_checkpoint(test::test_world(), root, 2, tensors_of(2), {});
  }();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied) << r.status();
  EXPECT_TRUE(has(r.status(), "rank_00000.h5: cannot create the file: Permission denied")) << r.status();
  expect_root_as_before(root);
}

TEST(CheckpointSaveError, InjectionSelectsStepAndRank) {
  EXPECT_EQ(injected_write_error("slice", 4, 1), 0);  // unset
  Inject in("ENOSPC:slice:4+:1");
  EXPECT_EQ(injected_write_error("slice", 4, 1), ENOSPC);
  EXPECT_EQ(injected_write_error("slice", 9, 1), ENOSPC);
  EXPECT_EQ(injected_write_error("slice", 3, 1), 0);
  EXPECT_EQ(injected_write_error("slice", 4, 0), 0);
  EXPECT_EQ(injected_write_error("metadata", 4, 1), 0);
  setenv("MOE_CKPT_INJECT_WRITE_ERROR", "EIO:slice:4", 1);  // slice takes ENOSPC or EACCES only
  EXPECT_EQ(injected_write_error("slice", 4, 0), 0);
  setenv("MOE_CKPT_INJECT_WRITE_ERROR", "EDQUOT:metadata:*", 1);
  EXPECT_EQ(injected_write_error("metadata", 7, 0), EDQUOT);
}

// The crash this guards against came at exit (HDF5's atexit H5close walking
// a file left half-closed by a failed H5Fclose), so the failing save runs in
// a child that then exits normally; the child must exit 0, not die.
void expect_failed_save_exits_cleanly(const std::string& root, int n, const SaveOptions& opt, const char* inject) {
  const std::vector<SaveTensor> ts = tensors_of(2, n);  // built before fork: the child runs no ops
  const pid_t pid = fork();
  if (pid == 0) {
    if (inject) setenv("MOE_CKPT_INJECT_WRITE_ERROR", inject, 1);
    std::unique_ptr<comm::Communicator> self = comm::self_communicator("world");
    absl::StatusOr<SaveReport> r = save_checkpoint(*self, root, 2, ts, {}, opt);
    const bool named = !r.ok() && has(r.status(), "rank_00000.h5") && has(r.status(), "No space left on device");
    std::exit(named ? 0 : 3);  // runs atexit handlers, HDF5's among them
  }
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status)) << "the child died of signal " << (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
  EXPECT_EQ(WEXITSTATUS(status), 0) << "the save did not fail naming the file and ENOSPC";
}

TEST(CheckpointSaveError, InjectedEnospcThenExitIsClean) {
  const std::string root = temp_root();
  ASSERT_TRUE(save_checkpoint(test::test_world(), root, 1, tensors_of(1), {}).ok());
  expect_failed_save_exits_cleanly(root, 6, {}, "ENOSPC:slice:2");
  expect_root_as_before(root);
}

// A real full file system: a 4 MB tmpfs (needs mount permission: root with
// CAP_SYS_ADMIN; skipped elsewhere). Step 1 takes 150 kB of it, a step of
// 100 tensors 6.6 MB.
class SmallTmpfs : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = temp_root("tmpfs");
    if (::mount("tmpfs", dir_.c_str(), "tmpfs", 0, "size=4m") != 0)
      GTEST_SKIP() << "cannot mount a tmpfs here (" << std::strerror(errno) << ")";
    mounted_ = true;
  }
  void TearDown() override {
    if (mounted_) ::umount2(dir_.c_str(), MNT_DETACH);
  }
  std::string dir_;
  bool mounted_ = false;
};

TEST_F(SmallTmpfs, AWriteMeetingAFullDiskFailsCleanly) {
  const std::string root = dir_ + "/ckpt";
  ASSERT_TRUE(save_checkpoint(test::test_world(), root, 1, tensors_of(1, 2), {}).ok());
  // Past the space check, so that HDF5's own writes meet ENOSPC.
  expect_failed_save_exits_cleanly(root, 100, {.check_space = false}, nullptr);
  expect_root_as_before(root);
  absl::StatusOr<SaveReport> r =
      save_checkpoint(test::test_world(), root, 2, tensors_of(2, 100), {}, {.check_space = false});
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(has(r.status(), "No space left on device")) << r.status();
  expect_root_as_before(root);
}

TEST_F(SmallTmpfs, TooLittleSpaceIsRefusedBeforeWriting) {
  const std::string root = dir_ + "/ckpt";
  ASSERT_TRUE(save_checkpoint(test::test_world(), root, 1, tensors_of(1, 2), {}).ok());
  absl::StatusOr<SaveReport> r = save_checkpoint(test::test_world(), root, 2, tensors_of(2, 100), {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted) << r.status();
  EXPECT_TRUE(has(r.status(), "not enough free space under " + root + ": the save needs ")) << r.status();
  EXPECT_TRUE(has(r.status(), "available on tmpfs file system " + dir_)) << r.status();
  EXPECT_TRUE(has(r.status(), "in the files of 1 rank")) << r.status();
  expect_root_as_before(root);
  // The check does not refuse what fits.
  ASSERT_TRUE(save_checkpoint(test::test_world(), root, 3, tensors_of(3, 1), {}).ok());
}

TEST(CheckpointSpace, MeasuresTheNearestExistingDirectory) {
  const std::string root = temp_root();
  absl::StatusOr<FsSpace> s = space_at(root + "/not/yet/made");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->probed, stdfs::weakly_canonical(root).string());
  EXPECT_GT(s->available, 0u);
  EXPECT_FALSE(s->mount.empty());
  absl::StatusOr<FsSpace> proc = space_at("/proc/self");
  ASSERT_TRUE(proc.ok());
  EXPECT_EQ(proc->mount, "/proc");
  EXPECT_EQ(proc->type, "proc");
}

TEST(CheckpointSpace, EstimateCoversTheFile) {
  // The estimate is what the space check counts on: never below the file
  // (60 datasets take 27 kB over their data).
  const std::string root = temp_root();
  for (int n : {1, 5, 60}) {
    const std::vector<SaveTensor> ts = tensors_of(1, n);
    absl::StatusOr<SaveReport> r = save_checkpoint(test::test_world(), root, n, ts, {}, {.keep_last = 0});
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_GE(estimated_file_bytes(ts), r->bytes_written) << n << " tensors";
  }
}

TEST(CheckpointNonFinite, FindsNanAndInfInEveryFloatDtype) {
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  for (DType dt : {DType::f32, DType::f64, DType::bf16, DType::f16, DType::f8e5m2}) {
    const Tensor t = from_vector(std::vector<double>{1, double(nan), 2, double(inf), -double(inf), 3}, {6}, dt);
    const NonFinite n = find_nonfinite(t);
    EXPECT_EQ(n.count, 3) << dtype_name(dt);
    EXPECT_EQ(n.first, 1) << dtype_name(dt);
    EXPECT_EQ(n.first_value, "nan") << dtype_name(dt);
    EXPECT_EQ(find_nonfinite(from_vector(std::vector<double>{1, -2, 448, 0}, {4}, dt)).count, 0) << dtype_name(dt);
  }
  // e4m3fn has no inf (a cast saturates or gives NaN): its only non-finite
  // code is S.1111.111.
  const Tensor e4 = from_vector(std::vector<double>{1, double(nan), -448, 0}, {4}, DType::f8e4m3);
  EXPECT_EQ(find_nonfinite(e4).count, 1);
  EXPECT_EQ(find_nonfinite(from_vector(std::vector<double>{1, 2}, {2}, DType::i64)).count, 0);
}

TEST(CheckpointNonFinite, ANanTensorIsNeverCommitted) {
  const std::string root = temp_root();
  ASSERT_TRUE(save_checkpoint(test::test_world(), root, 1, tensors_of(1), {}).ok());
  std::vector<SaveTensor> ts = tensors_of(2);
  ts[3].local.data<float>()[17] = std::numeric_limits<float>::quiet_NaN();
  ts[4].local.data<float>()[0] = -std::numeric_limits<float>::infinity();
  absl::StatusOr<SaveReport> r = save_checkpoint(test::test_world(), root, 2, ts, {});
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(is_nonfinite_error(r.status())) << r.status();
  EXPECT_TRUE(has(r.status(), "non-finite values in 2 tensors: t3: 1 non-finite value (first: nan at element 17); "
                              "t4: 1 non-finite value (first: -inf at element 0)"))
      << r.status();
  expect_root_as_before(root);
  // A replica another rank writes is not this rank's to check.
  ts[3].write = ts[4].write = false;
  EXPECT_TRUE(save_checkpoint(test::test_world(), root, 2, ts, {}).ok());
  // A full disk is not a non-finite error.
  Inject in("ENOSPC:slice:3");
  EXPECT_FALSE(is_nonfinite_error(save_checkpoint(test::test_world(), root, 3, tensors_of(3), {}).status()));
}

TEST(CheckpointNonFinite, VerifyFlagsAHandWrittenNanCheckpoint) {
  // Written through the rank-local steps, which do not check values: as an
  // older build, or a bit flip before the checksum, would leave it.
  const std::string root = temp_root();
  ASSERT_TRUE(save_checkpoint(test::test_world(), root, 1, tensors_of(1), {}).ok());
  std::vector<SaveTensor> ts = tensors_of(2);
  for (int i : {5, 9, 100}) ts[2].local.data<float>()[i] = std::numeric_limits<float>::quiet_NaN();
  ASSERT_TRUE(testing::save_simulated(root, 2, {ts}).ok());
  const absl::Status v = verify_checkpoint(root + "/step_00000002");
  ASSERT_FALSE(v.ok());
  EXPECT_TRUE(has(v, "rank_00000.h5:/t2 (tensor t2, slice 0 of 1): 3 non-finite values (first: nan at element 5)"))
      << v;
  // Checksums-only verification does not read the data, so it cannot see it.
  EXPECT_TRUE(verify_checkpoint(root + "/step_00000002", false).ok());
  // Resume skips it for the previous one, saying why.
  absl::StatusOr<Loadable> l = find_loadable(root, "latest");
  ASSERT_TRUE(l.ok()) << l.status();
  EXPECT_EQ(l->step_dir, root + "/step_00000001");
  ASSERT_EQ(l->rejected.size(), 1u);
  EXPECT_NE(l->rejected[0].find("non-finite"), std::string::npos) << l->rejected[0];
}

TEST(CheckpointNonFinite, TestHookCommitsANanIntoTheSavedCopyOnly) {
  const std::string root = temp_root();
  std::vector<SaveTensor> ts = tensors_of(1);
  setenv("MOE_CKPT_TEST_NAN_TENSOR", "t1:1", 1);
  absl::StatusOr<SaveReport> r = save_checkpoint(test::test_world(), root, 1, ts, {});
  unsetenv("MOE_CKPT_TEST_NAN_TENSOR");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(std::isfinite(ts[1].local.data<float>()[0]));
  EXPECT_TRUE(has(verify_checkpoint(r->step_dir), "(tensor t1, slice 0 of 1): 1 non-finite value"));
}

}  // namespace
}  // namespace moe::checkpoint
