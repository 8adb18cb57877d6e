#pragma once
// Tokenizers: text (any byte string) <-> token ids. Every tokenizer here is
// byte-level, so decode(encode(s)) == s for every byte string s, including
// invalid UTF-8. A tokenizer serialises to a string that the dataset file
// stores next to the tokens, so that a dataset carries its own tokenizer.
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace moe::data {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  // "byte" or "bpe": the key that make_tokenizer() dispatches on.
  virtual std::string kind() const = 0;
  // Ids are in [0, vocab_size()).
  virtual int32_t vocab_size() const = 0;
  virtual std::vector<int32_t> encode(std::string_view text) const = 0;
  // Throws moe::Error for an id outside [0, vocab_size()).
  virtual std::string decode(std::span<const int32_t> tokens) const = 0;
  // Inverse of make_tokenizer(kind(), serialize()).
  virtual std::string serialize() const = 0;
};

// Rebuilds a tokenizer from kind() and serialize(); a non-OK status names
// the kind and what is wrong with the serialised form.
absl::StatusOr<std::unique_ptr<Tokenizer>> make_tokenizer(std::string_view kind,
                                                          std::string_view serialized);

}  // namespace moe::data
