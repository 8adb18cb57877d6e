#pragma once
// Device-wide sorts of (key, value) pairs: CUB on a GPU (core/cuda/sort.cu),
// a stable host sort over the same arguments under the SIMT shim
// (core/cuda/simt/sort_shim.cc). Both are stable, so equal keys keep their
// input order and the two agree bit for bit. Pointers are device memory of
// `device`; the work goes to cuda::current_stream(), temporary storage comes
// from the caching allocator.
#include <cstdint>

#include "core/device.h"

namespace moe::cuda::sort {

// Stable ascending sort of n pairs by the keys' low `bits` bits (the others
// are zero): CUB's radix sort.
void pairs(Device device, const uint32_t* keys_in, uint32_t* keys_out, const int64_t* values_in,
           int64_t* values_out, int64_t n, int bits);

// The same within each of `segments` segments [offsets[s], offsets[s + 1])
// (offsets: device memory, segments + 1 entries, covering [0, n)): CUB's
// segmented sort, which also handles many short segments well.
void segmented_pairs(Device device, const uint32_t* keys_in, uint32_t* keys_out, const int64_t* values_in,
                     int64_t* values_out, int64_t n, int64_t segments, const int64_t* offsets);
void segmented_pairs(Device device, const uint64_t* keys_in, uint64_t* keys_out, const int64_t* values_in,
                     int64_t* values_out, int64_t n, int64_t segments, const int64_t* offsets);

}  // namespace moe::cuda::sort
