#pragma once
// Token datasets in HDF5, as written by moe-prep.
//
// File layout (format_version 1):
//   /                 attributes: format = "moe-tokens", format_version = 1,
//                     tokenizer_kind ("byte", "bpe"), vocab_size (int64)
//   /tokenizer        uint8[n]: Tokenizer::serialize() (a dataset, not an
//                     attribute, because attributes are limited to 64 KiB)
//   /<split>/tokens   1-D, uint16 when vocab_size <= 65536 else int32,
//                     chunked (256 Ki tokens), shuffle + deflate when the
//                     HDF5 build has those filters
//   /<split>/doc_offsets  int64: token offset of each document start
//   /<split>          attributes: num_tokens, tokens_fnv1a64 and
//                     doc_offsets_fnv1a64 (data/checksum.h)
// The file is written to PATH.tmp and renamed to PATH when complete, so a
// crash never leaves a half-written PATH.
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "data/dataset.h"
#include "data/token_split.h"
#include "data/tokenizer.h"

namespace moe::data {

inline constexpr int64_t kHdf5FormatVersion = 1;

absl::Status write_token_dataset(const std::string& path, const Tokenizer& tokenizer,
                                 std::span<const TokenSplit> splits);

struct Hdf5OpenOptions {
  // A split up to this size (as int32) is loaded into memory at open;
  // a larger one is read from the file on each read() (hyperslabs). Either
  // way every token is checksummed and range-checked at open.
  int64_t max_cached_bytes = int64_t(256) << 20;
};

// Opens one split. Errors (each message names the file): NotFound for a
// missing file or split; DataLoss for a file that is not HDF5, truncated,
// corrupt, of another format or version, with wrong dtypes, a checksum
// mismatch or token ids outside the vocabulary.
// Without the cache, read() is not thread-safe (the HDF5 library is serial)
// and throws moe::Error if HDF5 fails after open.
absl::StatusOr<std::unique_ptr<TokenDataset>> open_hdf5_dataset(
    const std::string& path, const std::string& split, const Hdf5OpenOptions& options = {});

// The tokenizer stored in the file.
absl::StatusOr<std::unique_ptr<Tokenizer>> read_hdf5_tokenizer(const std::string& path);

}  // namespace moe::data
