#pragma once
// Free space where a checkpoint is about to be written, so that a save that
// cannot fit fails before it writes anything.
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace moe::checkpoint {

struct FsSpace {
  uint64_t available = 0;  // bytes an unprivileged writer may still use (statvfs f_bavail)
  std::string probed;      // the directory measured: the path, or its nearest existing ancestor
  std::string mount;       // its file system's mount point ("" when unknown)
  std::string type;        // and type ("ext4", "tmpfs", "nfs", ...)
};
// The file system holding `path` (which need not exist yet).
absl::StatusOr<FsSpace> space_at(const std::string& path);

// Bytes a save needs beyond `payload` (what its files will hold): HDF5 and
// file-system slack, and room for the other writers of a shared file system.
int64_t space_margin(int64_t payload);

// "1.23 MB" (decimal units, as the save report prints).
std::string bytes_str(int64_t bytes);

}  // namespace moe::checkpoint
