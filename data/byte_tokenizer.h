#pragma once
// ByteTokenizer: token = byte value, vocabulary 256. Serialises to "".
#include "data/tokenizer.h"

namespace moe::data {

class ByteTokenizer final : public Tokenizer {
 public:
  std::string kind() const override { return "byte"; }
  int32_t vocab_size() const override { return 256; }
  std::vector<int32_t> encode(std::string_view text) const override;
  std::string decode(std::span<const int32_t> tokens) const override;
  std::string serialize() const override { return ""; }
};

}  // namespace moe::data
