#include "optim/sum_squares.h"

#include <algorithm>
#include <vector>

#include "core/parallel.h"

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

}  // namespace moe::optim
