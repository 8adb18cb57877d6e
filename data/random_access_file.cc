#include "data/random_access_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"

namespace moe::data {

absl::StatusOr<RandomAccessFile> RandomAccessFile::open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT) return absl::NotFoundError(absl::StrCat(path, ": no such file"));
    return absl::InternalError(absl::StrCat(path, ": cannot open: ", std::strerror(err)));
  }
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return absl::InternalError(absl::StrCat(path, ": cannot stat: ", std::strerror(err)));
  }
  RandomAccessFile f;
  f.fd_ = fd;
  f.path_ = path;
  f.size_ = uint64_t(st.st_size);
  return f;
}

RandomAccessFile::RandomAccessFile(RandomAccessFile&& o) noexcept
    : fd_(std::exchange(o.fd_, -1)), path_(std::move(o.path_)), size_(std::exchange(o.size_, 0)) {}

RandomAccessFile& RandomAccessFile::operator=(RandomAccessFile&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(o.fd_, -1);
    path_ = std::move(o.path_);
    size_ = std::exchange(o.size_, 0);
  }
  return *this;
}

RandomAccessFile::~RandomAccessFile() {
  if (fd_ >= 0) ::close(fd_);
}

int64_t RandomAccessFile::current_size() const {
  struct stat st;
  return fd_ >= 0 && ::fstat(fd_, &st) == 0 ? int64_t(st.st_size) : -1;
}

absl::StatusOr<size_t> RandomAccessFile::read_at(uint64_t offset, size_t n, void* out) const {
  char* p = static_cast<char*>(out);
  size_t done = 0;
  while (done < n) {
    const ssize_t got = ::pread(fd_, p + done, n - done, off_t(offset + done));
    if (got == 0) break;  // end of file
    if (got < 0) {
      if (errno == EINTR) continue;
      return absl::InternalError(absl::StrCat(path_, ": read of ", n, " bytes at byte ", offset,
                                              " failed: ", std::strerror(errno)));
    }
    done += size_t(got);
  }
  return done;
}

}  // namespace moe::data
