#pragma once
// TokenSplit: one named split (e.g. "train") of a tokenised corpus, as the
// dataset writers take it.
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace moe::data {

struct TokenSplit {
  std::string name;  // "train", "val", ...
  std::vector<int32_t> tokens;
  std::vector<int64_t> doc_offsets;  // document starts: ascending, first 0 when tokens exist
};

// Checks ids lie in [0, vocab_size) and doc_offsets are well formed;
// the message starts with `where` (the output file) and the split name.
absl::Status validate_token_split(const TokenSplit& split, int32_t vocab_size,
                                  const std::string& where);

// The same checks on raw arrays, shared with the readers.
absl::Status validate_doc_offsets(const std::vector<int64_t>& doc_offsets, int64_t num_tokens,
                                  const std::string& where);

}  // namespace moe::data
