#pragma once
// Durable file-system steps of the commit protocol. A rename is atomic but
// only durable once the directory holding it is fsynced; a file's bytes only
// once the file is. Errors name the path and errno's text.
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace moe::checkpoint::fs {

// "<message>: <strerror(err)>" with a code by errno: ENOSPC/EDQUOT
// resource exhausted, EACCES/EPERM/EROFS permission denied, else internal.
absl::Status errno_status(int err, const std::string& message);

// fsync of a file or a directory (opened read-only, which Linux allows).
absl::Status fsync_path(const std::string& path);
// Writes `content` to path.tmp, fsyncs it, renames it over `path`, fsyncs
// the directory: readers see the old or the new content, never a mix. On
// failure path.tmp is removed and `path` is untouched. fail_errno != 0
// (tests, checkpoint/test_hook.h): half the bytes are written, then the
// write fails as write(2) would with that errno.
absl::Status write_file_atomic(const std::string& path, const std::string& content, int fail_errno = 0);
// rename(2) then fsync of the destination's parent directory.
absl::Status rename_durable(const std::string& from, const std::string& to);
absl::StatusOr<std::string> read_file(const std::string& path);
// -1 when the file does not exist or is not a regular file.
int64_t file_size(const std::string& path);
std::string parent_dir(const std::string& path);

}  // namespace moe::checkpoint::fs
