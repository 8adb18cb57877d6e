#pragma once
// Order-fixed f64 sum of squares, the one reduction the optimizers need.
#include <cstdint>
#include <vector>

namespace moe::optim {

// Sum of x[i]^2 accumulated in f64. The elements are cut into fixed blocks
// of kSumBlock; blocks are summed in parallel, each over 8 interleaved lanes,
// and the block sums are added in block order, so the result depends only on
// the values, never on the thread count.
inline constexpr int64_t kSumBlock = 8192;
double sum_squares(const float* x, int64_t n);

// sum_squares of each array (pointer, length), bitwise the same numbers, in
// one parallel pass over all their blocks: a model's many small tensors no
// longer each run alone on one thread.
struct FloatArray {
  const float* data;
  int64_t n;
};
std::vector<double> sum_squares_each(const std::vector<FloatArray>& arrays);

}  // namespace moe::optim
