#include "data/byte_tokenizer.h"

#include "core/error.h"

namespace moe::data {

std::vector<int32_t> ByteTokenizer::encode(std::string_view text) const {
  std::vector<int32_t> out(text.size());
  for (size_t i = 0; i < text.size(); ++i) out[i] = static_cast<unsigned char>(text[i]);
  return out;
}

std::string ByteTokenizer::decode(std::span<const int32_t> tokens) const {
  std::string out(tokens.size(), '\0');
  for (size_t i = 0; i < tokens.size(); ++i) {
    MOE_CHECK(tokens[i] >= 0 && tokens[i] < 256, "ByteTokenizer::decode: token ", tokens[i],
              " at position ", i, " is outside [0, 256)");
    out[i] = static_cast<char>(tokens[i]);
  }
  return out;
}

}  // namespace moe::data
