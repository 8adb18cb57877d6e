#pragma once
// metadata.pb (the binary CheckpointMeta) and metadata.fnv1a64 (its
// checksum, 16 hex digits: protobuf parsing alone would accept many flipped
// bytes as other valid values).
#include <string>

#include "absl/status/status.h"
#include "checkpoint/metadata.pb.h"

namespace moe::checkpoint {

inline constexpr const char* kMetadataFile = "metadata.pb";
inline constexpr const char* kMetadataSumFile = "metadata.fnv1a64";

// Both files, each written atomically and fsynced (which also fsyncs dir).
// fail_errno != 0: metadata.pb's write fails with it (checkpoint/test_hook.h).
absl::Status write_metadata(const std::string& dir, const CheckpointMeta& meta, int fail_errno = 0);

}  // namespace moe::checkpoint
