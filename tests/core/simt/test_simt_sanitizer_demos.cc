// Kernels with a bug that a sanitizer must report. They are not part of the
// ordinary runs (tests/core/simt/CMakeLists.txt filters them out); each runs
// alone under the sanitizer, and passes only when the report names the bug.
#include <gtest/gtest.h>

#include <vector>

#include "tests/core/simt/kernels.h"

namespace moe::simt_test {
namespace {

// A shared-memory tree reduction without the barrier between the writes and
// the first reads: TSan must report a data race in block_sum_kernel.
TEST(SimtSanitizerDemo, MissingSyncthreadsRace) {
  std::vector<long long> in(4 * kSumThreads, 1), partial(2, 0);
  block_sum_racy(in.data(), partial.data(), int64_t(in.size()), 2);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
}

// ASan must report a heap-buffer-overflow: one int past the dynamic buffer.
TEST(SimtSanitizerDemo, DynamicSharedOverflow) {
  std::vector<int> out(64, 0);
  dynamic_smem_overflow(out.data(), 64);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
}

// UBSan (bounds) or ASan (global-buffer-overflow) must report the index past
// the static __shared__ array.
TEST(SimtSanitizerDemo, StaticSharedOverflow) {
  std::vector<int> out(65, 0);
  static_smem_overflow(out.data());
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
}

}  // namespace
}  // namespace moe::simt_test
