#pragma once
// One rank's HDF5 file of a checkpoint: one contiguous dataset per slice,
// named "/" + tensor name, raw little-endian values (bf16/f16/f8 as their
// bit patterns), attributes fnv1a64 (checksum of the bytes), dtype and
// shard_dim/shard_index/shard_count.
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "checkpoint/checkpoint.h"
#include "checkpoint/metadata.pb.h"

namespace moe::checkpoint {

std::string rank_file_name(int rank);  // "rank_00003.h5"
absl::StatusOr<DType> dtype_from_name(const std::string& name);

struct WrittenFile {
  FileRecord file;                    // bytes after close
  std::vector<TensorRecord> tensors;  // one slice each
};
// Writes the write == true tensors to dir/rank_file_name(rank), flushes,
// closes and fsyncs it. Nothing to write: no file, an empty record. On
// failure (a full disk, an I/O error, no permission) every HDF5 object is
// closed, the partial file is removed, and the error names the file, the
// dataset where known, and errno's text. fail_errno != 0: the test hook of
// checkpoint/test_hook.h (ENOSPC halfway through, EACCES at creation).
absl::StatusOr<WrittenFile> write_rank_file(const std::string& dir, int rank, const std::vector<SaveTensor>& tensors,
                                            int fail_errno = 0);
// Bytes write_rank_file will write for `tensors` (data plus HDF5's
// per-dataset headers and attributes, measured for this format), for the
// free-space check before a save.
int64_t estimated_file_bytes(const std::vector<SaveTensor>& tensors);

// Reads slice `s` of tensor `t` from step_dir. With `verify`, compares the
// bytes' checksum with the recorded one (and the dataset's own attribute);
// without it only the shape and type are checked and nothing is read
// (returns an undefined tensor). expected_file_bytes >= 0 is compared with
// the file's size first, so a truncated file is named as such. Errors name
// the file, the dataset and the tensor.
absl::StatusOr<Tensor> read_slice(const std::string& step_dir, const TensorRecord& t, const SliceRecord& s,
                                  int64_t expected_file_bytes, bool verify);

// The recorded size of `file` in meta, or -1.
int64_t recorded_file_bytes(const CheckpointMeta& meta, const std::string& file);

}  // namespace moe::checkpoint
