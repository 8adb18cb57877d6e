#pragma once
// Durable file-system steps of the commit protocol. A rename is atomic but
// only durable once the directory holding it is fsynced; a file's bytes only
// once the file is. Errors name the path and errno's text.
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace moe::checkpoint::fs {

// fsync of a file or a directory (opened read-only, which Linux allows).
absl::Status fsync_path(const std::string& path);
// Writes `content` to path.tmp, fsyncs it, renames it over `path`, fsyncs
// the directory: readers see the old or the new content, never a mix.
absl::Status write_file_atomic(const std::string& path, const std::string& content);
// rename(2) then fsync of the destination's parent directory.
absl::Status rename_durable(const std::string& from, const std::string& to);
absl::StatusOr<std::string> read_file(const std::string& path);
// -1 when the file does not exist or is not a regular file.
int64_t file_size(const std::string& path);
std::string parent_dir(const std::string& path);

}  // namespace moe::checkpoint::fs
