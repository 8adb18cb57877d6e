// core/cuda/sort.h under the SIMT shim: device memory is host memory, so the
// pairs are sorted on the host, stably, after the stream's earlier work, with
// exactly the arguments CUB would get (key bits, segment offsets).
#include <algorithm>
#include <numeric>
#include <vector>

#include "core/cuda/context.h"
#include "core/cuda/sort.h"
#include "core/error.h"

namespace moe::cuda::sort {
namespace {

template <typename K>
void sort_range(const K* keys_in, K* keys_out, const int64_t* values_in, int64_t* values_out, int64_t lo,
                int64_t hi, K mask) {
  MOE_CHECK(lo >= 0 && lo <= hi, "sort: segment [", lo, ", ", hi, ") is not a range");
  std::vector<int64_t> order(size_t(hi - lo));
  std::iota(order.begin(), order.end(), lo);
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return (keys_in[a] & mask) < (keys_in[b] & mask); });
  // Through a copy: CUB's outputs may not alias its inputs, the shim need not rely on it.
  std::vector<K> keys(order.size());
  std::vector<int64_t> values(order.size());
  for (size_t i = 0; i < order.size(); ++i) keys[i] = keys_in[order[i]], values[i] = values_in[order[i]];
  std::copy(keys.begin(), keys.end(), keys_out + lo);
  std::copy(values.begin(), values.end(), values_out + lo);
}

template <typename K>
void segmented(Device device, const K* keys_in, K* keys_out, const int64_t* values_in, int64_t* values_out,
               int64_t n, int64_t segments, const int64_t* offsets) {
  if (n == 0 || segments == 0) return;
  DeviceGuard on(device.index);
  MOE_CUDA_CHECK(cudaStreamSynchronize(current_stream()));
  MOE_CHECK(offsets[0] >= 0 && offsets[segments] <= n, "sort: segment offsets [", offsets[0], ", ",
            offsets[segments], "] outside the ", n, " pairs");
  for (int64_t s = 0; s < segments; ++s)
    sort_range(keys_in, keys_out, values_in, values_out, offsets[s], offsets[s + 1], ~K(0));
}

}  // namespace

void pairs(Device device, const uint32_t* keys_in, uint32_t* keys_out, const int64_t* values_in,
           int64_t* values_out, int64_t n, int bits) {
  if (n == 0) return;
  MOE_CHECK(bits >= 0 && bits <= 32, "sort: ", bits, " key bits of a 32-bit key");
  DeviceGuard on(device.index);
  MOE_CUDA_CHECK(cudaStreamSynchronize(current_stream()));
  const uint32_t mask = bits >= 32 ? ~0u : (1u << bits) - 1;
  sort_range(keys_in, keys_out, values_in, values_out, 0, n, mask);
}

void segmented_pairs(Device device, const uint32_t* keys_in, uint32_t* keys_out, const int64_t* values_in,
                     int64_t* values_out, int64_t n, int64_t segments, const int64_t* offsets) {
  segmented(device, keys_in, keys_out, values_in, values_out, n, segments, offsets);
}
void segmented_pairs(Device device, const uint64_t* keys_in, uint64_t* keys_out, const int64_t* values_in,
                     int64_t* values_out, int64_t n, int64_t segments, const int64_t* offsets) {
  segmented(device, keys_in, keys_out, values_in, values_out, n, segments, offsets);
}

}  // namespace moe::cuda::sort
