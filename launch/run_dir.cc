#include "launch/run_dir.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "checkpoint/checkpoint.h"
#include "checkpoint/fs.h"
#include "checkpoint/retention.h"
#include "launch/checkpointing.h"

namespace moe::launch {
namespace stdfs = std::filesystem;
namespace {

std::string host_name() {
  char h[256] = {};
  if (::gethostname(h, sizeof h - 1) != 0) return "unknown-host";
  return h;
}

// What the holder recorded ("host H pid P"). A holder that has just taken
// the lock may not have written it yet, hence the short retry.
std::string holder_of(int fd) {
  for (int attempt = 0; attempt < 20; ++attempt) {
    char buf[512] = {};
    const ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
    if (n > 0) return std::string(absl::StripAsciiWhitespace(std::string(buf, size_t(n))));
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return "";
}

bool same_path(const std::string& a, const std::string& b) {
  std::error_code ec;
  return stdfs::weakly_canonical(a, ec) == stdfs::weakly_canonical(b, ec);
}

}  // namespace

DirLock& DirLock::operator=(DirLock&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.fd_;
    path_ = std::move(o.path_);
    o.fd_ = -1;
  }
  return *this;
}

DirLock::~DirLock() {
  // Closing the only descriptor releases the lock. The file stays: removing
  // it would let a waiting opener lock an unlinked inode while a third
  // process creates and locks a new one.
  if (fd_ >= 0) ::close(fd_);
}

absl::StatusOr<DirLock> DirLock::acquire(const std::string& dir_in) {
  const std::string dir = dir_in.empty() ? "." : dir_in;
  std::error_code ec;
  stdfs::create_directories(dir, ec);
  if (ec) return absl::PermissionDeniedError(absl::StrCat("cannot create directory ", dir, ": ", ec.message()));
  const std::string path = dir + "/.lock";
  // No O_TRUNC: a run that fails to lock must leave the holder's record as it is.
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0)
    return absl::PermissionDeniedError(absl::StrCat("cannot open lock file ", path, ": ", std::strerror(errno)));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    if (err == EWOULDBLOCK) {
      const std::string holder = holder_of(fd);
      ::close(fd);
      return absl::FailedPreconditionError(
          absl::StrCat(dir, " is in use by another run (",
                       holder.empty() ? "its lock file names no holder yet" : absl::CHexEscape(holder),
                       "; lock file ", path, "): wait for it to end, or use another run_dir"));
    }
    if (err == ENOLCK || err == ENOSYS || err == EOPNOTSUPP) {
      std::fprintf(stderr,
                   "moe-train: warning: cannot lock %s (%s): this file system has no locks, so nothing stops "
                   "a second run from using %s at the same time\n",
                   path.c_str(), std::strerror(err), dir.c_str());
      return DirLock(fd, path);
    }
    ::close(fd);
    return absl::InternalError(absl::StrCat("cannot lock ", path, ": ", std::strerror(err)));
  }
  const std::string record = absl::StrCat("host ", host_name(), " pid ", ::getpid(), "\n");
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, record.data(), record.size(), 0) != ssize_t(record.size())) {
    const int err = errno;
    ::close(fd);
    return absl::InternalError(absl::StrCat("cannot write lock file ", path, ": ", std::strerror(err)));
  }
  return DirLock(fd, path);
}

absl::StatusOr<std::vector<DirLock>> lock_run_dirs(const config::TrainConfig& cfg) {
  std::vector<DirLock> locks;
  absl::StatusOr<DirLock> run = DirLock::acquire(cfg.run_dir());
  if (!run.ok()) return run.status();
  locks.push_back(std::move(*run));
  const std::string root = checkpoint_root(cfg);
  const std::string run_dir = cfg.run_dir().empty() ? "." : cfg.run_dir();
  if (!same_path(root, run_dir + "/checkpoints")) {
    absl::StatusOr<DirLock> ck = DirLock::acquire(root);
    if (!ck.ok()) return ck.status();
    locks.push_back(std::move(*ck));
  }
  return locks;
}

absl::Status prepare_fresh_start(const config::TrainConfig& cfg, bool overwrite) {
  if (!cfg.checkpoint().resume_from().empty()) return absl::OkStatus();
  const std::string root = checkpoint_root(cfg);
  const std::vector<std::string> steps = checkpoint::list_steps(root);
  const std::string latest = root + "/latest";
  const bool has_latest = checkpoint::fs::file_size(latest) >= 0;
  if (steps.empty() && !has_latest) return absl::OkStatus();
  if (!overwrite) {
    std::vector<std::string> names;
    for (const std::string& d : steps) names.push_back(stdfs::path(d).filename().string());
    return absl::FailedPreconditionError(absl::StrCat(
        root, " holds committed checkpoints (", names.empty() ? "a latest file" : absl::StrJoin(names, ", "),
        ") and this run would start from step 0 over them: pass --resume to continue from the latest one, or "
        "--overwrite to delete them and start again"));
  }
  // `latest` first: a crash midway then leaves no pointer into what is gone.
  std::error_code ec;
  if (has_latest) {
    stdfs::remove(latest, ec);
    if (ec) return absl::InternalError(absl::StrCat("--overwrite: cannot remove ", latest, ": ", ec.message()));
    if (absl::Status s = checkpoint::fs::fsync_path(root); !s.ok()) return s;
  }
  // Step directories and what interrupted saves left (.tmp_, .old_ which a
  // later save would put back, .del_), each renamed out of the step
  // namespace before it is deleted, as retention does.
  std::vector<stdfs::path> doomed;
  for (const auto& e : stdfs::directory_iterator(root, ec)) {
    const std::string n = e.path().filename().string();
    if (checkpoint::step_of_dir(n) >= 0 || n.rfind(".tmp_step_", 0) == 0 || n.rfind(".old_step_", 0) == 0 ||
        n.rfind(".del_", 0) == 0)
      doomed.push_back(e.path());
  }
  // Old trash first, so that renaming a step onto its .del_ name finds it free.
  std::stable_partition(doomed.begin(), doomed.end(),
                        [](const stdfs::path& p) { return p.filename().string().rfind(".del_", 0) == 0; });
  for (const stdfs::path& p : doomed) {
    const std::string n = p.filename().string();
    const stdfs::path trash = n.rfind(".del_", 0) == 0 ? p : p.parent_path() / (".del_" + n);
    if (trash != p) stdfs::rename(p, trash, ec);
    if (!ec) stdfs::remove_all(trash, ec);
    if (ec) return absl::InternalError(absl::StrCat("--overwrite: cannot remove ", p.string(), ": ", ec.message()));
  }
  std::fprintf(stderr, "moe-train: --overwrite: removed %zu checkpoint director%s under %s\n", doomed.size(),
               doomed.size() == 1 ? "y" : "ies", root.c_str());
  return absl::OkStatus();
}

}  // namespace moe::launch
