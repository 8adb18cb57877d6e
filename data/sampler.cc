#include "data/sampler.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "core/error.h"
#include "core/ops.h"
#include "core/random.h"

namespace moe::data {
namespace {

std::string too_short(const TokenDataset& d, int64_t seq_len) {
  return absl::StrCat(d.describe(), ": ", d.num_tokens(),
                      " tokens, but windows of seq_len + 1 = ", seq_len + 1,
                      " tokens are needed (seq_len must be >= 1)");
}

bool fits(const TokenDataset& d, int64_t seq_len) {
  return seq_len >= 1 && d.num_tokens() >= seq_len + 1;
}

}  // namespace

absl::StatusOr<BatchSampler> BatchSampler::create(const TokenDataset& data, int64_t seq_len,
                                                  uint64_t seed) {
  if (!fits(data, seq_len)) return absl::InvalidArgumentError(too_short(data, seq_len));
  return BatchSampler(data, seq_len, seed);
}

BatchSampler::BatchSampler(const TokenDataset& data, int64_t seq_len, uint64_t seed)
    : data_(&data), seq_len_(seq_len), seed_(seed) {
  MOE_CHECK(fits(data, seq_len), "BatchSampler: ", too_short(data, seq_len));
}

int64_t BatchSampler::window_start(uint64_t stream, int64_t seq) const {
  const philox::U4 r = philox::philox4x32_10(seed_, stream, uint64_t(seq));
  const uint64_t bits = (uint64_t(r.x[1]) << 32) | r.x[0];
  const uint64_t starts = uint64_t(data_->num_tokens() - seq_len_);  // >= 1
  // Multiply-shift maps 64 random bits onto [0, starts); its bias is below
  // starts / 2^64, i.e. nil for any real corpus.
  return int64_t((unsigned __int128)bits * starts >> 64);
}

Batch BatchSampler::make(uint64_t stream, int64_t global_batch, int64_t first_seq,
                         int64_t num_seqs) const {
  MOE_CHECK(first_seq >= 0 && num_seqs >= 0 && first_seq + num_seqs <= global_batch,
            "BatchSampler: sequences [", first_seq, ", ", first_seq + num_seqs,
            ") are outside the global batch of ", global_batch);
  Batch b{empty({num_seqs, seq_len_}, DType::i64), empty({num_seqs, seq_len_}, DType::i64)};
  int64_t* in = b.inputs.data<int64_t>();
  int64_t* tg = b.targets.data<int64_t>();
  std::vector<int32_t> window(size_t(seq_len_ + 1));
  for (int64_t i = 0; i < num_seqs; ++i) {
    data_->read(window_start(stream, first_seq + i), seq_len_ + 1, window.data());
    for (int64_t t = 0; t < seq_len_; ++t) {
      in[i * seq_len_ + t] = window[t];
      tg[i * seq_len_ + t] = window[t + 1];
    }
  }
  return b;
}

Batch BatchSampler::get(int64_t step, int64_t global_batch, int64_t first_seq,
                        int64_t num_seqs) const {
  MOE_CHECK(step >= 0, "BatchSampler::get: step ", step, " is negative");
  return make(uint64_t(step), global_batch, first_seq, num_seqs);
}

Batch BatchSampler::eval(int64_t index, int64_t global_batch, int64_t first_seq,
                         int64_t num_seqs) const {
  MOE_CHECK(index >= 0, "BatchSampler::eval: index ", index, " is negative");
  return make(kEvalStreamBit | uint64_t(index), global_batch, first_seq, num_seqs);
}

}  // namespace moe::data
