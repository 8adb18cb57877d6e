#include <gtest/gtest.h>

#include <numeric>
#include <set>

#include "core/error.h"
#include "data/memory_dataset.h"
#include "data/sampler.h"

namespace moe::data {
namespace {

// Token i = i % 1000, so a window's tokens reveal its start.
MemoryDataset counting(int64_t n) {
  std::vector<int32_t> t(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) t[i] = int32_t(i % 1000);
  return MemoryDataset(std::move(t), 1000);
}

std::vector<int64_t> values(const Tensor& t) {
  std::vector<int64_t> v(size_t(t.numel()));
  std::copy(t.data<int64_t>(), t.data<int64_t>() + t.numel(), v.begin());
  return v;
}

TEST(BatchSampler, ShapesAndShiftedTargets) {
  const MemoryDataset d = counting(50000);
  const BatchSampler s(d, 16, 1);
  const Batch b = s.get(3, 8, 0, 8);
  EXPECT_EQ(b.inputs.shape(), (Shape{8, 16}));
  EXPECT_EQ(b.targets.shape(), (Shape{8, 16}));
  EXPECT_EQ(b.inputs.dtype(), DType::i64);
  const std::vector<int64_t> in = values(b.inputs), tg = values(b.targets);
  for (int64_t r = 0; r < 8; ++r) {
    const int64_t start = s.window_start(3, r);
    for (int64_t t = 0; t < 16; ++t) {
      EXPECT_EQ(in[r * 16 + t], (start + t) % 1000);
      EXPECT_EQ(tg[r * 16 + t], (start + t + 1) % 1000);
    }
  }
}

TEST(BatchSampler, SameSequencesWhateverTheSplit) {
  const MemoryDataset d = counting(100000);
  const BatchSampler s(d, 32, 42);
  const int64_t global = 12;
  for (int64_t step : {0, 1, 1000}) {
    const std::vector<int64_t> whole = values(s.get(step, global, 0, global).inputs);
    // 3 ranks x 2 micro-batches of 2, and 4 ranks x 3 micro-batches of 1.
    for (int64_t per : {2, 1, 4, 3}) {
      std::vector<int64_t> pieces;
      for (int64_t first = 0; first < global; first += per) {
        const std::vector<int64_t> p = values(s.get(step, global, first, per).inputs);
        pieces.insert(pieces.end(), p.begin(), p.end());
      }
      EXPECT_EQ(pieces, whole) << "step " << step << " pieces of " << per;
    }
  }
}

TEST(BatchSampler, DeterministicAndStepsDiffer) {
  const MemoryDataset d = counting(100000);
  const BatchSampler a(d, 8, 7), b(d, 8, 7), other_seed(d, 8, 8);
  EXPECT_EQ(values(a.get(5, 4, 0, 4).inputs), values(b.get(5, 4, 0, 4).inputs));
  EXPECT_NE(values(a.get(5, 4, 0, 4).inputs), values(a.get(6, 4, 0, 4).inputs));
  EXPECT_NE(values(a.get(5, 4, 0, 4).inputs), values(other_seed.get(5, 4, 0, 4).inputs));
  // Eval batches are a separate fixed set.
  EXPECT_NE(values(a.eval(0, 4, 0, 4).inputs), values(a.get(0, 4, 0, 4).inputs));
  EXPECT_EQ(values(a.eval(2, 4, 0, 4).inputs), values(b.eval(2, 4, 0, 4).inputs));
  // A sequence does not depend on the global batch size.
  EXPECT_EQ(values(a.get(9, 4, 1, 1).inputs), values(a.get(9, 64, 1, 1).inputs));
}

TEST(BatchSampler, StartsCoverTheWholeRange) {
  // 21 tokens, seq_len 16: starts 0..4, each reachable, never beyond.
  const MemoryDataset d = counting(21);
  const BatchSampler s(d, 16, 3);
  std::set<int64_t> seen;
  for (int64_t step = 0; step < 200; ++step) seen.insert(s.window_start(step, 0));
  EXPECT_EQ(seen, (std::set<int64_t>{0, 1, 2, 3, 4}));
  // Exactly seq_len + 1 tokens: the only window.
  const MemoryDataset exact = counting(17);
  EXPECT_EQ(BatchSampler(exact, 16, 3).window_start(123, 5), 0);
}

TEST(BatchSampler, TooShortDatasetIsAnError) {
  const MemoryDataset d = counting(16);
  absl::StatusOr<BatchSampler> s = BatchSampler::create(d, 16, 1);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(s.status().message()).find("memory: 16 tokens"), std::string::npos)
      << s.status();
  EXPECT_THROW(BatchSampler(d, 16, 1), Error);
  EXPECT_TRUE(BatchSampler::create(d, 15, 1).ok());
  EXPECT_FALSE(BatchSampler::create(d, 0, 1).ok());
  const BatchSampler ok(d, 15, 1);
  EXPECT_THROW(ok.get(0, 4, 3, 2), Error);  // outside the global batch
}

}  // namespace
}  // namespace moe::data
