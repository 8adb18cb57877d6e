#pragma once
// Megatron-LM indexed datasets ("MMIDIDX"): PREFIX.bin holds the tokens of
// all sequences back to back; PREFIX.idx (little-endian) holds
//   magic "MMIDIDX\0\0" (9 bytes), version u64 = 1, dtype code u8
//   (1 uint8, 2 int8, 3 int16, 4 int32, 5 int64, 6 float64, 7 float32,
//   8 uint16), sequence count S u64, document count D u64,
//   int32[S] sequence lengths (tokens), int64[S] sequence byte offsets into
//   .bin, int64[D] document indices: the first sequence of each document,
//   starting with 0 and ending with S (so D = documents + 1).
// Newer Megatron versions may append per-sequence modes; they are ignored.
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "data/dataset.h"
#include "data/token_split.h"

namespace moe::data {

// Writes PREFIX.bin and PREFIX.idx with one sequence per document, as
// uint16 when vocab_size <= 65536 else int32, and the checksum sidecar
// PREFIX.fnv (data/megatron_checksums.h: vocab_size and FNV-1a sums). Each
// file is written to NAME.tmp and renamed when complete (.bin, .idx, then
// .fnv); a crash in between leaves a sidecar that does not match, which the
// reader refuses.
absl::Status write_megatron_dataset(const std::string& prefix, const TokenSplit& split,
                                    int32_t vocab_size);

// Opens PREFIX.bin and PREFIX.idx. The sequences must be stored
// contiguously in .bin (Megatron's builder does this), so the dataset is
// the token stream of .bin. Opening reads the whole index and every token
// once: the index must be consistent and describe exactly the size of .bin;
// with a sidecar PREFIX.fnv its sizes and FNV-1a sums must match (index and
// every chunk of .bin: a corrupt byte is a DataLoss naming the chunk's bytes
// and documents) and every id must be below its vocab_size (the file's own
// vocabulary); a positive `vocab_size` must also exceed every id. Id errors
// name the file, the token offset, the document and the id. The dataset's
// vocab_size() is `vocab_size`, else the sidecar's, else max_token() + 1.
// Without a sidecar (datasets built by Megatron) nothing is checksummed.
// read() uses pread, not a mapping: a .bin truncated after open makes
// read() throw moe::Error naming the file, the document and the expected
// and actual sizes (never SIGBUS); an id outside vocab_size() found then
// (the file rewritten in place) throws too. Open errors name the file:
// NotFound, or DataLoss for bad magic, version or dtype, truncation,
// inconsistent sizes, checksum mismatches and ids out of range.
absl::StatusOr<std::unique_ptr<TokenDataset>> open_megatron_dataset(const std::string& prefix,
                                                                    int32_t vocab_size = 0);

}  // namespace moe::data
