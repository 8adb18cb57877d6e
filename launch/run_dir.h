#pragma once
// Guards of a run directory against operator mistakes, taken by rank 0
// before anything in the directory is written or deleted:
// - an exclusive lock (flock on <dir>/.lock, recording host and pid) held for
//   the whole run, since two runs in one directory truncate each other's
//   metrics, overwrite the config and delete each other's checkpoints;
// - a run starting from step 0 over committed checkpoints (a forgotten
//   --resume) is refused unless told to overwrite them.
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "launch/train_config.pb.h"

namespace moe::launch {

// An exclusive lock on a directory; released when destroyed, or by the
// kernel when the process dies (so a dead holder's lock is simply taken).
class DirLock {
 public:
  // mkdir -p dir, then locks dir/.lock without waiting and records
  // "host H pid P" in it. When another process holds it: FailedPrecondition
  // naming that holder's host and pid and the lock file. A file system
  // without locks (some Lustre mounts) gives a held-nothing lock and a
  // warning on stderr.
  static absl::StatusOr<DirLock> acquire(const std::string& dir);
  DirLock(DirLock&& o) noexcept : fd_(o.fd_), path_(std::move(o.path_)) { o.fd_ = -1; }
  DirLock& operator=(DirLock&& o) noexcept;
  DirLock(const DirLock&) = delete;
  DirLock& operator=(const DirLock&) = delete;
  ~DirLock();
  const std::string& path() const { return path_; }

 private:
  DirLock(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  int fd_ = -1;
  std::string path_;
};

// The locks a run holds: run_dir, and the checkpoint root too when
// checkpoint.dir puts it outside run_dir.
absl::StatusOr<std::vector<DirLock>> lock_run_dirs(const config::TrainConfig& cfg);

// For a run that starts from step 0 (checkpoint.resume_from empty): an error
// when the checkpoint root holds committed checkpoints, saying to pass
// --resume or --overwrite. With overwrite, removes them instead (the step
// directories, leftovers of interrupted saves, `latest`), so the new run's
// checkpoints are the only ones. A run that resumes passes untouched.
absl::Status prepare_fresh_start(const config::TrainConfig& cfg, bool overwrite);

}  // namespace moe::launch
