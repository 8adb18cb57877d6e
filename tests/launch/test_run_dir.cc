// The run directory's guards (launch/run_dir.h) and the config file checks:
// the lock refuses a second holder naming the first and is taken over from a
// dead one; a fresh start over committed checkpoints needs overwrite, which
// removes them; --config naming a directory or a file that sets no field is
// refused; a damaged, non-UTF-8 `latest` under a non-UTF-8 root is reported,
// not garbled in the answer rank 0 sends.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "checkpoint/checkpoint.h"
#include "comm/mpi_communicator.h"
#include "launch/config.h"
#include "launch/run_dir.h"

namespace moe::launch {
namespace {

namespace stdfs = std::filesystem;

std::string scratch(const std::string& name) {
  const std::string d = (stdfs::temp_directory_path() / ("moe_run_dir_" + std::to_string(::getpid()) + "_" + name)).string();
  stdfs::remove_all(d);
  return d;
}

void write(const std::string& path, const std::string& text) {
  stdfs::create_directories(stdfs::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

std::string read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(RunDirLock, SecondHolderIsRefusedNamingTheFirst) {
  const std::string dir = scratch("lock");
  {
    absl::StatusOr<DirLock> first = DirLock::acquire(dir);
    ASSERT_TRUE(first.ok()) << first.status();
    EXPECT_EQ(first->path(), dir + "/.lock");
    const std::string record = read(dir + "/.lock");
    EXPECT_NE(record.find(" pid " + std::to_string(::getpid())), std::string::npos) << record;
    // flock is per open file: a second open in this process conflicts too.
    absl::StatusOr<DirLock> second = DirLock::acquire(dir);
    ASSERT_FALSE(second.ok());
    EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
    const std::string msg(second.status().message());
    EXPECT_NE(msg.find("in use by another run"), std::string::npos) << msg;
    EXPECT_NE(msg.find("pid " + std::to_string(::getpid())), std::string::npos) << msg;
    EXPECT_NE(msg.find("lock file " + dir + "/.lock"), std::string::npos) << msg;
    EXPECT_EQ(read(dir + "/.lock"), record) << "the refused attempt rewrote the holder's record";
  }
  EXPECT_TRUE(DirLock::acquire(dir).ok()) << "not released by the destructor";
  stdfs::remove_all(dir);
}

TEST(RunDirLock, DeadHoldersLockIsTakenOver) {
  const std::string dir = scratch("stale");
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    absl::StatusOr<DirLock> l = DirLock::acquire(dir);
    ::_exit(l.ok() ? 0 : 3);  // dies holding it: no destructor runs
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_NE(read(dir + "/.lock").find(" pid " + std::to_string(child)), std::string::npos);
  absl::StatusOr<DirLock> l = DirLock::acquire(dir);
  ASSERT_TRUE(l.ok()) << l.status();
  EXPECT_NE(read(dir + "/.lock").find(" pid " + std::to_string(::getpid())), std::string::npos);
  stdfs::remove_all(dir);
}

TEST(RunDirLock, CheckpointRootOutsideTheRunDirIsLockedToo) {
  const std::string base = scratch("two");
  config::TrainConfig cfg;
  cfg.set_run_dir(base + "/run");
  {
    absl::StatusOr<std::vector<DirLock>> locks = lock_run_dirs(cfg);
    ASSERT_TRUE(locks.ok()) << locks.status();
    EXPECT_EQ(locks->size(), 1u);  // checkpoints under run_dir
  }
  cfg.mutable_checkpoint()->set_dir(base + "/ckpt");
  absl::StatusOr<std::vector<DirLock>> locks = lock_run_dirs(cfg);
  ASSERT_TRUE(locks.ok()) << locks.status();
  ASSERT_EQ(locks->size(), 2u);
  // Another run with its own run_dir but the same checkpoint root.
  config::TrainConfig other = cfg;
  other.set_run_dir(base + "/run2");
  absl::StatusOr<std::vector<DirLock>> refused = lock_run_dirs(other);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find(base + "/ckpt/.lock"), std::string::npos) << refused.status();
  stdfs::remove_all(base);
}

TEST(FreshStart, CommittedCheckpointsNeedResumeOrOverwrite) {
  const std::string run = scratch("fresh");
  config::TrainConfig cfg;
  cfg.set_run_dir(run);
  EXPECT_TRUE(prepare_fresh_start(cfg, false).ok()) << "nothing there yet";
  write(run + "/checkpoints/.tmp_step_00000009/rank_00000.h5", "x");  // an interrupted save only
  EXPECT_TRUE(prepare_fresh_start(cfg, false).ok());
  write(run + "/checkpoints/step_00000004/metadata.pb", "m");
  write(run + "/checkpoints/step_00000008/metadata.pb", "m");
  write(run + "/checkpoints/.old_step_00000008/metadata.pb", "m");
  write(run + "/checkpoints/latest", "step_00000008\n");
  write(run + "/checkpoints/notes.txt", "the operator's own file");
  absl::Status refused = prepare_fresh_start(cfg, false);
  ASSERT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition) << refused;
  const std::string msg(refused.message());
  EXPECT_NE(msg.find(run + "/checkpoints holds committed checkpoints (step_00000004, step_00000008)"),
            std::string::npos) << msg;
  EXPECT_NE(msg.find("--resume"), std::string::npos) << msg;
  EXPECT_NE(msg.find("--overwrite"), std::string::npos) << msg;
  EXPECT_TRUE(stdfs::exists(run + "/checkpoints/step_00000004"));

  config::TrainConfig resuming = cfg;
  resuming.mutable_checkpoint()->set_resume_from("latest");
  EXPECT_TRUE(prepare_fresh_start(resuming, false).ok());

  ASSERT_TRUE(prepare_fresh_start(cfg, true).ok());
  std::vector<std::string> left;
  for (const auto& e : stdfs::directory_iterator(run + "/checkpoints")) left.push_back(e.path().filename().string());
  EXPECT_EQ(left, std::vector<std::string>{"notes.txt"});
  EXPECT_TRUE(prepare_fresh_start(cfg, false).ok());
  stdfs::remove_all(run);
}

TEST(ConfigFile, DirectoryIsAnErrorNamingIt) {
  const std::string dir = scratch("cfgdir");
  stdfs::create_directories(dir);
  absl::StatusOr<config::TrainConfig> cfg = load_train_config(dir, {});
  ASSERT_FALSE(cfg.ok());
  EXPECT_EQ(cfg.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(cfg.status().message().find("config " + dir + " is a directory"), std::string::npos) << cfg.status();
  stdfs::remove_all(dir);
}

TEST(ConfigFile, NoFieldSetIsRefusedUnlessAllowed) {
  const std::string dir = scratch("cfgempty");
  write(dir + "/empty.pbtxt", "");
  write(dir + "/comments.pbtxt", "# to be written\n\n");
  write(dir + "/one.pbtxt", "steps: 2000  # the default, but said\n");
  for (const char* name : {"empty", "comments"}) {
    const std::string path = dir + "/" + name + ".pbtxt";
    absl::StatusOr<config::TrainConfig> cfg = load_train_config(path, {"steps=5"});
    ASSERT_FALSE(cfg.ok()) << name;
    EXPECT_NE(cfg.status().message().find("config " + path + " sets no field"), std::string::npos) << cfg.status();
    EXPECT_NE(cfg.status().message().find("--allow_empty_config"), std::string::npos) << cfg.status();
    absl::StatusOr<config::TrainConfig> allowed = load_train_config(path, {"steps=5"}, true);
    ASSERT_TRUE(allowed.ok()) << allowed.status();
    EXPECT_EQ(allowed->steps(), 5);
  }
  EXPECT_TRUE(load_train_config(dir + "/one.pbtxt", {}).ok());
  stdfs::remove_all(dir);
}

// A non-UTF-8 root whose `latest` is not UTF-8 either and no step: the
// answer rank 0 sends must arrive intact ("no loadable checkpoint", naming
// the file), not as an unreadable message.
TEST(Resolve, NonUtf8LatestAndRootReachTheRanksIntact) {
  const std::string root = scratch("utf8") + "/ckpt_\xff\xfe";
  write(root + "/latest", "step_\xff\xfe\n");
  absl::StatusOr<std::string> dir = checkpoint::resolve(root, "latest");
  ASSERT_FALSE(dir.ok());
  EXPECT_NE(dir.status().message().find("not a step name: \"step_\\xff\\xfe\\n\""), std::string::npos)
      << dir.status();
  std::unique_ptr<comm::Communicator> self = comm::self_communicator();
  absl::StatusOr<checkpoint::Loadable> l = checkpoint::find_loadable(*self, root, "latest");
  ASSERT_FALSE(l.ok());
  EXPECT_EQ(l.status().code(), absl::StatusCode::kDataLoss) << l.status();
  EXPECT_NE(l.status().message().find("no loadable checkpoint under " + root), std::string::npos) << l.status();
  EXPECT_NE(l.status().message().find(root + "/latest: not a step name"), std::string::npos) << l.status();
  stdfs::remove_all(stdfs::path(root).parent_path());
}

}  // namespace
}  // namespace moe::launch
