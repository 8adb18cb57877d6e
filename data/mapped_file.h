#pragma once
// A read-only memory map of a whole file (POSIX mmap), unmapped on
// destruction. An empty file maps to an empty view.
#include <cstddef>
#include <string>

#include "absl/status/statusor.h"

namespace moe::data {

class MappedFile {
 public:
  // NotFound for a missing file; Internal for other open/stat/mmap failures.
  static absl::StatusOr<MappedFile> open(const std::string& path);

  MappedFile() = default;
  MappedFile(MappedFile&& o) noexcept;
  MappedFile& operator=(MappedFile&& o) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  const unsigned char* data() const { return static_cast<const unsigned char*>(addr_); }
  size_t size() const { return size_; }

 private:
  void* addr_ = nullptr;
  size_t size_ = 0;
};

}  // namespace moe::data
