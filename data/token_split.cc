#include "data/token_split.h"

#include "absl/strings/str_cat.h"

namespace moe::data {

absl::Status validate_doc_offsets(const std::vector<int64_t>& d, int64_t num_tokens,
                                  const std::string& where) {
  if (num_tokens > 0 && (d.empty() || d[0] != 0))
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": doc_offsets must start with 0 when there are tokens"));
  for (size_t i = 0; i < d.size(); ++i) {
    if (d[i] < 0 || d[i] >= num_tokens || (i > 0 && d[i] <= d[i - 1]))
      return absl::InvalidArgumentError(absl::StrCat(where, ": doc_offsets[", i, "] = ", d[i],
                                                     " is not strictly ascending inside [0, ",
                                                     num_tokens, ")"));
  }
  return absl::OkStatus();
}

absl::Status validate_token_split(const TokenSplit& split, int32_t vocab_size,
                                  const std::string& where) {
  const std::string at = absl::StrCat(where, ": split '", split.name, "'");
  if (split.name.empty() || split.name.find('/') != std::string::npos)
    return absl::InvalidArgumentError(
        absl::StrCat(at, ": a split name must be non-empty and contain no '/'"));
  for (size_t i = 0; i < split.tokens.size(); ++i) {
    if (split.tokens[i] < 0 || split.tokens[i] >= vocab_size)
      return absl::InvalidArgumentError(absl::StrCat(at, ": token ", split.tokens[i], " at offset ",
                                                     i, " is outside [0, ", vocab_size, ")"));
  }
  return validate_doc_offsets(split.doc_offsets, int64_t(split.tokens.size()), at);
}

}  // namespace moe::data
