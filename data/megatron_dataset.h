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
// uint16 when vocab_size <= 65536 else int32. Each file is written to
// NAME.tmp and renamed when complete (.bin first, then .idx).
absl::Status write_megatron_dataset(const std::string& prefix, const TokenSplit& split,
                                    int32_t vocab_size);

// Memory-maps PREFIX.bin and PREFIX.idx. The sequences must be stored
// contiguously in .bin (Megatron's writer does this), so the dataset is the
// token stream of .bin. The format records no vocabulary: vocab_size 0 means
// max_token() + 1; a positive vocab_size is checked against the ids.
// Opening scans all tokens once (range check and max_token). Errors name
// the file: NotFound, or DataLoss for bad magic, version or dtype,
// truncation or inconsistent sizes.
absl::StatusOr<std::unique_ptr<TokenDataset>> open_megatron_dataset(const std::string& prefix,
                                                                    int32_t vocab_size = 0);

}  // namespace moe::data
