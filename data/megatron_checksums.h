#pragma once
// PREFIX.fnv, the checksum sidecar moe-prep writes next to a Megatron
// dataset (the format itself has neither a checksum nor a vocabulary).
// Text, one item a line, in this order:
//   moe-megatron-checksums 1
//   vocab_size 256          the tokenizer's: every id in .bin is below it
//   idx_bytes N
//   idx_fnv1a64 0x...       FNV-1a 64 (data/checksum.h) of PREFIX.idx's bytes
//   bin_bytes N
//   chunk_bytes 1048576     a positive multiple of 8, so chunks hold whole tokens
//   chunk 0 0x...           FNV-1a 64 of .bin bytes [i * chunk_bytes, (i + 1) * chunk_bytes)
//   ...                     one line per chunk, ceil(bin_bytes / chunk_bytes) in all
// The raw bytes are hashed, not the token values, so any flipped bit is
// caught whatever the dtype; per-chunk sums let an error name the bytes and
// documents that changed.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace moe::data {

inline constexpr uint64_t kMegatronChecksumChunkBytes = uint64_t(1) << 20;

struct MegatronChecksums {
  int32_t vocab_size = 0;
  uint64_t idx_bytes = 0, idx_fnv = 0;
  uint64_t bin_bytes = 0, chunk_bytes = kMegatronChecksumChunkBytes;
  std::vector<uint64_t> chunks;
};

inline std::string megatron_checksum_path(const std::string& prefix) { return prefix + ".fnv"; }

// FNV-1a 64 of bytes (the sidecar's hash of one chunk, or of the index).
uint64_t fnv1a64_bytes(std::span<const char> bytes);

MegatronChecksums compute_megatron_checksums(std::span<const char> idx, std::span<const char> bin,
                                             int32_t vocab_size);
std::string format_megatron_checksums(const MegatronChecksums& sums);

// nullopt when `path` does not exist (the sidecar is optional: datasets
// built by Megatron have none); DataLoss naming path and line when it is
// malformed.
absl::StatusOr<std::optional<MegatronChecksums>> read_megatron_checksums(const std::string& path);

}  // namespace moe::data
