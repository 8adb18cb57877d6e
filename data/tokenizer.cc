#include "data/tokenizer.h"

#include "absl/strings/str_cat.h"
#include "data/bpe_tokenizer.h"
#include "data/byte_tokenizer.h"

namespace moe::data {

absl::StatusOr<std::unique_ptr<Tokenizer>> make_tokenizer(std::string_view kind,
                                                          std::string_view serialized) {
  if (kind == "byte") {
    if (!serialized.empty())
      return absl::InvalidArgumentError("byte tokenizer: expected an empty serialised form");
    return std::make_unique<ByteTokenizer>();
  }
  if (kind == "bpe") {
    absl::StatusOr<BpeTokenizer> bpe = BpeTokenizer::deserialize(serialized);
    if (!bpe.ok()) return bpe.status();
    return std::make_unique<BpeTokenizer>(std::move(*bpe));
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown tokenizer kind \"", std::string(kind), "\" (expected byte or bpe)"));
}

}  // namespace moe::data
