#pragma once
// MemoryDataset: a TokenDataset over tokens held in memory (tests, and
// callers that tokenise on the fly).
#include <algorithm>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "data/dataset.h"

namespace moe::data {

class MemoryDataset final : public TokenDataset {
 public:
  // Throws moe::Error if an id is outside [0, vocab_size). Empty doc_offsets
  // means one document starting at 0.
  MemoryDataset(std::vector<int32_t> tokens, int32_t vocab_size,
                std::vector<int64_t> doc_offsets = {}, std::string name = "memory")
      : tokens_(std::move(tokens)),
        docs_(std::move(doc_offsets)),
        vocab_(vocab_size),
        name_(std::move(name)) {
    for (size_t i = 0; i < tokens_.size(); ++i) {
      const int32_t t = tokens_[i];
      MOE_CHECK(t >= 0 && t < vocab_, name_, ": token ", t, " at offset ", i, " outside [0, ", vocab_, ")");
      if (t > max_) {
        max_ = t;
        max_at_ = int64_t(i);
      }
    }
    if (docs_.empty() && !tokens_.empty()) docs_.push_back(0);
  }

  int64_t num_tokens() const override { return int64_t(tokens_.size()); }
  int32_t vocab_size() const override { return vocab_; }
  int32_t max_token() const override { return max_; }
  int64_t max_token_offset() const override { return max_at_; }
  const std::vector<int64_t>& doc_offsets() const override { return docs_; }
  std::string describe() const override { return name_; }
  void read(int64_t offset, int64_t count, int32_t* out) const override {
    MOE_CHECK(offset >= 0 && count >= 0 && offset + count <= num_tokens(), name_, ": read of [",
              offset, ", ", offset + count, ") outside [0, ", num_tokens(), ")");
    if (count > 0) std::memcpy(out, tokens_.data() + offset, size_t(count) * sizeof(int32_t));
  }

 private:
  std::vector<int32_t> tokens_;
  std::vector<int64_t> docs_;
  int32_t vocab_;
  int32_t max_ = -1;
  int64_t max_at_ = -1;
  std::string name_;
};

}  // namespace moe::data
