#pragma once
// TensorBoard event files: <dir>/events.out.tfevents.<unix seconds>.<host>,
// a sequence of TFRecords (uint64 length, masked CRC-32C of the length,
// the serialised Event, masked CRC-32C of it; little-endian), the first
// record the file version, then one Event per step holding its scalars.
// TensorBoard reads every events file of a directory: a resumed run adds a
// file, and a step logged twice (after a crash) shows twice.
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace moe::launch {

class TbWriter {
 public:
  // Creates dir and the file; an error if either cannot be made.
  static absl::StatusOr<std::unique_ptr<TbWriter>> open(const std::string& dir);
  ~TbWriter();
  TbWriter(const TbWriter&) = delete;
  TbWriter& operator=(const TbWriter&) = delete;
  const std::string& path() const { return path_; }
  // One Event at `step` with these (tag, value) scalars, flushed.
  void scalars(int64_t step, const std::vector<std::pair<std::string, double>>& values);

 private:
  TbWriter(std::string path, std::FILE* f) : path_(std::move(path)), f_(f) {}
  void record(const std::string& bytes);
  std::string path_;
  std::FILE* f_;
};

struct TbScalar {
  int64_t step;
  std::string tag;
  float value;
};
// Every scalar of an events file, each record's length and data CRCs
// checked: a bad CRC or a truncated record is an error naming the file and
// the record's offset.
absl::StatusOr<std::vector<TbScalar>> read_tb_scalars(const std::string& path);

}  // namespace moe::launch
