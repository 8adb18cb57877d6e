#include "checkpoint/fs.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace moe::checkpoint::fs {
namespace {

absl::Status errno_error(const std::string& what, const std::string& path) {
  return errno_status(errno, absl::StrCat(what, " ", path));
}

}  // namespace

absl::Status errno_status(int err, const std::string& message) {
  const std::string text = absl::StrCat(message, ": ", std::strerror(err));
  switch (err) {
    case ENOSPC:
    case EDQUOT: return absl::ResourceExhaustedError(text);
    case EACCES:
    case EPERM:
    case EROFS: return absl::PermissionDeniedError(text);
    default: return absl::InternalError(text);
  }
}

std::string parent_dir(const std::string& path) {
  std::string p = std::filesystem::path(path).parent_path().string();
  return p.empty() ? "." : p;
}

absl::Status fsync_path(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno_error("cannot open for fsync", path);
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  errno = err;
  if (rc != 0) return errno_error("fsync failed on", path);
  return absl::OkStatus();
}

absl::Status rename_durable(const std::string& from, const std::string& to) {
  if (std::rename(from.c_str(), to.c_str()) != 0)
    return errno_error(absl::StrCat("cannot rename ", from, " to"), to);
  return fsync_path(parent_dir(to));
}

absl::Status write_file_atomic(const std::string& path, const std::string& content, int fail_errno) {
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return errno_error("cannot create", tmp);
  // Nothing half-written is left behind: on a full disk the .tmp would
  // hold the space the next attempt needs.
  auto failed = [&](const char* what) {
    absl::Status st = errno_error(what, tmp);
    ::close(fd);
    ::unlink(tmp.c_str());
    return st;
  };
  const size_t stop_at = fail_errno != 0 ? content.size() / 2 : content.size();
  size_t done = 0;
  while (done < stop_at) {
    const ssize_t n = ::write(fd, content.data() + done, stop_at - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return failed("cannot write");
    done += size_t(n);
  }
  if (fail_errno != 0) {
    errno = fail_errno;
    return failed("cannot write");
  }
  if (::fsync(fd) != 0) return failed("fsync failed on");
  if (::close(fd) != 0) {
    absl::Status st = errno_error("cannot close", tmp);
    ::unlink(tmp.c_str());
    return st;
  }
  if (absl::Status st = rename_durable(tmp, path); !st.ok()) {
    ::unlink(tmp.c_str());
    return st;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return absl::DataLossError(absl::StrCat("cannot read ", path));
  return ss.str();
}

int64_t file_size(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return -1;
  const auto n = std::filesystem::file_size(path, ec);
  return ec ? -1 : int64_t(n);
}

}  // namespace moe::checkpoint::fs
