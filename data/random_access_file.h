#pragma once
// A read-only file read with pread(2), never memory-mapped: when the file
// is truncated while open, a read past the new end comes back short (the
// caller reports it), where a mapping would raise SIGBUS on the first page
// past the end and kill the process without a word.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace moe::data {

class RandomAccessFile {
 public:
  // NotFound for a missing file; Internal for other open/stat failures.
  static absl::StatusOr<RandomAccessFile> open(const std::string& path);

  RandomAccessFile() = default;
  RandomAccessFile(RandomAccessFile&& o) noexcept;
  RandomAccessFile& operator=(RandomAccessFile&& o) noexcept;
  RandomAccessFile(const RandomAccessFile&) = delete;
  RandomAccessFile& operator=(const RandomAccessFile&) = delete;
  ~RandomAccessFile();

  const std::string& path() const { return path_; }
  // The size when opened.
  uint64_t size() const { return size_; }
  // The size now (fstat), -1 if it cannot be read: for messages after a short read.
  int64_t current_size() const;

  // Reads up to n bytes at `offset` into out and returns how many were read:
  // fewer than n only at the end of the file. Internal (naming the file) on
  // an I/O error.
  absl::StatusOr<size_t> read_at(uint64_t offset, size_t n, void* out) const;

 private:
  int fd_ = -1;
  std::string path_;
  uint64_t size_ = 0;
};

}  // namespace moe::data
