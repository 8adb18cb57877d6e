#include "checkpoint/meta_file.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "checkpoint/checkpoint.h"
#include "checkpoint/fs.h"
#include "data/checksum.h"

namespace moe::checkpoint {
namespace {

std::string hex_sum(const std::string& bytes) {
  data::Fnv1a64 h;
  h.update(bytes.data(), bytes.size());
  return absl::StrFormat("%016x", h.value());
}

}  // namespace

absl::Status write_metadata(const std::string& dir, const CheckpointMeta& meta, int fail_errno) {
  std::string bytes;
  if (!meta.SerializeToString(&bytes))
    return absl::InternalError(absl::StrCat(dir, ": cannot serialize the checkpoint metadata"));
  if (absl::Status st = fs::write_file_atomic(dir + "/" + kMetadataFile, bytes, fail_errno); !st.ok())
    return st;
  return fs::write_file_atomic(dir + "/" + kMetadataSumFile, hex_sum(bytes) + "\n");
}

absl::StatusOr<CheckpointMeta> read_metadata(const std::string& step_dir) {
  const std::string path = step_dir + "/" + kMetadataFile;
  if (fs::file_size(path) < 0)
    return absl::NotFoundError(absl::StrCat(step_dir, ": no ", kMetadataFile, " (not a committed checkpoint)"));
  absl::StatusOr<std::string> bytes = fs::read_file(path);
  if (!bytes.ok()) return bytes.status();
  absl::StatusOr<std::string> sum = fs::read_file(step_dir + "/" + kMetadataSumFile);
  if (!sum.ok()) return absl::DataLossError(absl::StrCat(step_dir, ": ", kMetadataSumFile, " missing"));
  if (absl::StripTrailingAsciiWhitespace(*sum) != hex_sum(*bytes))
    return absl::DataLossError(absl::StrCat(path, ": checksum mismatch (recorded ", absl::StripTrailingAsciiWhitespace(*sum),
                                            ", file ", hex_sum(*bytes), "): corrupted metadata"));
  CheckpointMeta meta;
  if (!meta.ParseFromString(*bytes)) return absl::DataLossError(absl::StrCat(path, ": cannot parse"));
  if (meta.format_version() < 1 || meta.format_version() > kFormatVersion)
    return absl::DataLossError(absl::StrCat(path, ": format version ", meta.format_version(),
                                            ", this build reads 1..", kFormatVersion));
  return meta;
}

}  // namespace moe::checkpoint
