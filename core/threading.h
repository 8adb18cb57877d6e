#pragma once
// CPU threading. Ops split work into fixed ranges of independent outputs, so
// every result is bitwise the same whatever the thread count: no reduction
// order ever depends on how work was split.
#include <omp.h>

#include <algorithm>
#include <cstdint>

namespace moe {

int num_threads();
// Sets the threads of our ops and of OpenBLAS.
void set_num_threads(int n);

// Calls f(begin, end) on disjoint sub-ranges of [0, n), each at least `grain`
// long (except the last), in parallel when n is large enough.
template <typename F>
void parallel_for(int64_t n, int64_t grain, F&& f) {
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  const int64_t chunks = std::min<int64_t>((n + grain - 1) / grain, num_threads());
  if (chunks <= 1 || omp_in_parallel()) {
    f(int64_t(0), n);
    return;
  }
#pragma omp parallel for num_threads(int(chunks)) schedule(static, 1)
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t b = n * c / chunks, e = n * (c + 1) / chunks;
    if (b < e) f(b, e);
  }
}

}  // namespace moe
