#include "optim/sum_squares.h"

#include <algorithm>
#include <vector>

#include "core/threading.h"

namespace moe::optim {

namespace {

double block_sum_squares(const float* x, int64_t n) {
  double lane[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; ++k) lane[k] += double(x[i + k]) * double(x[i + k]);
  for (int k = 0; i < n; ++i, ++k) lane[k] += double(x[i]) * double(x[i]);
  return ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]));
}

}  // namespace

double sum_squares(const float* x, int64_t n) {
  if (n <= kSumBlock) return block_sum_squares(x, n);
  const int64_t blocks = (n + kSumBlock - 1) / kSumBlock;
  std::vector<double> partial(size_t(blocks), 0.0);
  parallel_for(blocks, 4, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t begin = b * kSumBlock;
      partial[size_t(b)] = block_sum_squares(x + begin, std::min(kSumBlock, n - begin));
    }
  });
  double total = 0.0;
  for (double s : partial) total += s;
  return total;
}

std::vector<double> sum_squares_each(const std::vector<FloatArray>& arrays) {
  struct Block {
    size_t array;
    int64_t begin, n;
  };
  std::vector<Block> blocks;
  for (size_t a = 0; a < arrays.size(); ++a)
    for (int64_t b = 0; b < arrays[a].n; b += kSumBlock)
      blocks.push_back({a, b, std::min(kSumBlock, arrays[a].n - b)});
  std::vector<double> partial(blocks.size(), 0.0);
  parallel_for(int64_t(blocks.size()), 4, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const Block& k = blocks[size_t(b)];
      partial[size_t(b)] = block_sum_squares(arrays[k.array].data + k.begin, k.n);
    }
  });
  // Block sums added in block order per array, as sum_squares does (one
  // block is its own sum, exactly as there).
  std::vector<double> total(arrays.size(), 0.0);
  for (size_t b = 0; b < blocks.size(); ++b) total[blocks[b].array] += partial[b];
  return total;
}

}  // namespace moe::optim
