#pragma once
// TokenDataset: one split of a tokenised corpus, a flat stream of token ids
// with document boundaries, read by random access. Implemented by the HDF5
// datasets of moe-prep (data/hdf5_dataset.h) and by Megatron-LM indexed
// datasets (data/megatron_dataset.h).
#include <cstdint>
#include <string>
#include <vector>

namespace moe::data {

class TokenDataset {
 public:
  virtual ~TokenDataset() = default;
  virtual int64_t num_tokens() const = 0;
  // Ids lie in [0, vocab_size()).
  virtual int32_t vocab_size() const = 0;
  // Largest id present (-1 when empty).
  virtual int32_t max_token() const = 0;
  // Offset of the first token equal to max_token(); -1 when there are no
  // tokens or the dataset does not track it. Lets a vocabulary error point
  // at the token in the file.
  virtual int64_t max_token_offset() const { return -1; }
  // Copies tokens [offset, offset + count) to out; throws moe::Error when
  // the range is outside [0, num_tokens()).
  virtual void read(int64_t offset, int64_t count, int32_t* out) const = 0;
  // Token offset where each document starts: ascending, first 0 when there
  // are tokens. A split cut from a corpus may start or end inside a document.
  virtual const std::vector<int64_t>& doc_offsets() const = 0;
  // Where the tokens come from, for messages: "file.h5:train", "prefix.bin".
  virtual std::string describe() const = 0;
};

// "DESCRIBE, token offset O (document D)" for messages, D the index of the
// document holding O in doc_offsets(); just describe() for offset < 0.
std::string token_location(const TokenDataset& data, int64_t offset);

}  // namespace moe::data
