#pragma once
// BatchSampler: training and evaluation batches of token windows.
//
// Sequence b of the global batch of step s is the window of seq_len + 1
// tokens starting at a position drawn uniformly from
// [0, num_tokens - seq_len - 1] (as nanoGPT does; windows may cross document
// boundaries) by Philox keyed by (seed, stream = s, counter = b). So a
// sequence is a pure function of (seed, s, b): the step alone is the data
// cursor to resume from, and any split of a global batch over data-parallel
// ranks and micro-batches yields the same sequences. Evaluation batches use
// the same rule on a disjoint stream range (top bit set), so they are a
// fixed, reproducible set independent of training progress.
#include <cstdint>

#include "absl/status/statusor.h"
#include "core/tensor.h"
#include "data/dataset.h"

namespace moe::data {

struct Batch {
  Tensor inputs;   // i64 [num_seqs, seq_len]
  Tensor targets;  // i64 [num_seqs, seq_len]: inputs shifted left by one token
};

class BatchSampler {
 public:
  // InvalidArgument (naming the dataset) when it holds fewer than
  // seq_len + 1 tokens or seq_len < 1.
  static absl::StatusOr<BatchSampler> create(const TokenDataset& data, int64_t seq_len,
                                             uint64_t seed);
  // Same checks, throwing moe::Error. `data` must outlive the sampler.
  BatchSampler(const TokenDataset& data, int64_t seq_len, uint64_t seed);

  // Sequences first_seq .. first_seq + num_seqs - 1 of step `step`'s global
  // batch of `global_batch` sequences.
  Batch get(int64_t step, int64_t global_batch, int64_t first_seq, int64_t num_seqs) const;
  // The same for evaluation batch `index` (a fixed set per seed).
  Batch eval(int64_t index, int64_t global_batch, int64_t first_seq, int64_t num_seqs) const;

  // Start token of sequence `seq` drawn from stream `stream`.
  int64_t window_start(uint64_t stream, int64_t seq) const;

  int64_t seq_len() const { return seq_len_; }
  const TokenDataset& dataset() const { return *data_; }

 private:
  Batch make(uint64_t stream, int64_t global_batch, int64_t first_seq, int64_t num_seqs) const;

  const TokenDataset* data_;
  int64_t seq_len_;
  uint64_t seed_;
};

inline constexpr uint64_t kEvalStreamBit = uint64_t(1) << 63;

}  // namespace moe::data
