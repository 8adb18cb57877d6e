// The CPU allocator's cache of large blocks: reuse, size classes, limits.
#include <gtest/gtest.h>

#include <cstdint>

#include "core/storage.h"

namespace moe {
namespace {

TEST(CpuAllocator, RoundedSizesKeepAlignmentAndBoundSlack) {
  EXPECT_EQ(CpuAllocator::rounded_size(1), 64u);
  EXPECT_EQ(CpuAllocator::rounded_size(65), 128u);
  const size_t mib = size_t(1) << 20;
  EXPECT_EQ(CpuAllocator::rounded_size(mib), mib);
  EXPECT_EQ(CpuAllocator::rounded_size(mib + 1), mib + mib / 8);
  EXPECT_EQ(CpuAllocator::rounded_size(3 * mib + 5), 3 * mib + 2 * mib / 8);  // steps of 256 KiB in [2, 4) MiB
  for (size_t n : {mib + 3, 5 * mib + 7, 100 * mib + 1}) {
    const size_t r = CpuAllocator::rounded_size(n);
    EXPECT_GE(r, n);
    EXPECT_LE(double(r), 1.125 * double(n) + 64);
    EXPECT_EQ(r % CpuAllocator::kAlignment, 0u);
  }
}

TEST(CpuAllocator, LargeBlocksAreReusedAndSmallOnesAreNot) {
  CpuAllocator a;
  const size_t big = 3 * (size_t(1) << 20) + 123;
  void* p = a.allocate(big);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % CpuAllocator::kAlignment, 0u);
  a.deallocate(p, big);
  EXPECT_EQ(a.cached_bytes(), CpuAllocator::rounded_size(big));
  // Same size class (a slightly different request) gets the same block back.
  void* q = a.allocate(big + 1000);
  EXPECT_EQ(q, p);
  EXPECT_EQ(a.cached_bytes(), 0u);
  a.deallocate(q, big + 1000);

  void* s = a.allocate(4096);
  a.deallocate(s, 4096);
  EXPECT_EQ(a.cached_bytes(), CpuAllocator::rounded_size(big));  // small blocks go back to malloc
  a.empty_cache();
  EXPECT_EQ(a.cached_bytes(), 0u);
}

}  // namespace
}  // namespace moe
