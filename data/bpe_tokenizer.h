#pragma once
// Byte-level BPE. The base vocabulary is the 256 byte values; merge i joins
// two existing ids into id 256 + i. Text is first cut into chunks
// (data/pretokenize.h) and merges apply inside a chunk only. Because every
// byte is a token, any byte string encodes and decodes back exactly.
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "data/tokenizer.h"

namespace moe::data {

class BpeTokenizer final : public Tokenizer {
 public:
  using Merge = std::pair<int32_t, int32_t>;

  // merges[i] = (a, b) with a, b < 256 + i; throws moe::Error otherwise.
  explicit BpeTokenizer(std::vector<Merge> merges);

  // Learns merges on `corpus` until vocab_size ids exist (fewer if the corpus
  // runs out of adjacent pairs). Each step merges the most frequent adjacent
  // pair over all chunks; ties go to the lowest (first id, second id). Pair
  // counts are updated incrementally, touching only the chunks that hold the
  // merged pair, so a 1 MB corpus trains to 1k ids in well under a second.
  static BpeTokenizer train(std::string_view corpus, int32_t vocab_size);

  // Parses serialize()'s format: "moe-bpe 1\n<count>\n" then "a b\n" per merge.
  static absl::StatusOr<BpeTokenizer> deserialize(std::string_view text);

  std::string kind() const override { return "bpe"; }
  int32_t vocab_size() const override { return int32_t(vocab_.size()); }
  // Inside each chunk: repeatedly merges the adjacent pair of lowest rank
  // (leftmost first), as GPT-2's encoder; O(n log n) per chunk.
  std::vector<int32_t> encode(std::string_view text) const override;
  std::string decode(std::span<const int32_t> tokens) const override;
  std::string serialize() const override;

  const std::vector<Merge>& merges() const { return merges_; }
  // The bytes that token `id` stands for.
  const std::string& token_bytes(int32_t id) const;

 private:
  void encode_chunk(std::string_view chunk, std::vector<int32_t>& out) const;
  // Rank (merge index) of the pair (a, b), or -1.
  int32_t rank(int32_t a, int32_t b) const;

  std::vector<Merge> merges_;
  std::vector<std::string> vocab_;  // bytes of each id
  std::unordered_map<uint64_t, int32_t> ranks_;
};

// Key of an ordered id pair; ordering keys orders pairs by (a, b).
inline uint64_t pair_key(int32_t a, int32_t b) {
  return (uint64_t(uint32_t(a)) << 32) | uint32_t(b);
}

}  // namespace moe::data
