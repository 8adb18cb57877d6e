#pragma once
// Pre-tokenisation for byte-level BPE: the text is cut into chunks and BPE
// merges never cross a chunk boundary (as GPT-2 does with its regex), so
// tokens do not glue punctuation or runs of spaces onto words.
//
// Rule (bytes, no Unicode tables): each byte is a letter (A-Z, a-z, and every
// byte >= 0x80, so multi-byte UTF-8 characters stay inside words), a digit,
// whitespace (space, \t, \n, \v, \f, \r) or other (punctuation). A chunk is
//   - an optional single leading ' ' plus a maximal run of letters, of digits
//     or of other bytes (" hello", "42", " --"), or
//   - a maximal run of whitespace; when such a run is followed by a
//     non-whitespace byte and ends in ' ', that last space is left to start
//     the next chunk ("a   b" -> "a", "  ", " b"), as GPT-2's \s+(?!\S).
// Unlike GPT-2 there are no special English contractions ("'s" is "'", "s").
// Concatenating the chunks gives the text back exactly.
#include <string_view>
#include <vector>

namespace moe::data {

std::vector<std::string_view> pretokenize(std::string_view text);

}  // namespace moe::data
