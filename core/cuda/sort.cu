// core/cuda/sort.h on CUB. Each call asks CUB for its temporary storage,
// takes it from the caching allocator on the current stream and runs there.
// The SIMT shim has its own definitions (core/cuda/simt/sort_shim.cc).
#if !defined(MOE_CUDA_SIM)
#include <cub/device/device_radix_sort.cuh>
#include <cub/device/device_segmented_sort.cuh>

#include "core/cuda/context.h"
#include "core/cuda/sort.h"
#include "core/ops.h"

namespace moe::cuda::sort {
namespace {

// Runs call(temp, bytes) once to size the storage and once to sort.
template <typename Call>
void with_storage(Device device, const Call& call) {
  size_t bytes = 0;
  MOE_CUDA_CHECK(call(nullptr, bytes));
  const Tensor temp = empty({int64_t(bytes > 0 ? bytes : 1)}, DType::b8, device);
  MOE_CUDA_CHECK(call(temp.device_data<bool>(), bytes));
}

template <typename K>
void segmented(Device device, const K* keys_in, K* keys_out, const int64_t* values_in, int64_t* values_out,
               int64_t n, int64_t segments, const int64_t* offsets) {
  if (n == 0 || segments == 0) return;
  DeviceGuard on(device.index);
  cudaStream_t stream = current_stream();
  with_storage(device, [&](void* temp, size_t& bytes) {
    return cub::DeviceSegmentedSort::StableSortPairs(temp, bytes, keys_in, keys_out, values_in, values_out, n,
                                                     segments, offsets, offsets + 1, stream);
  });
}

}  // namespace

void pairs(Device device, const uint32_t* keys_in, uint32_t* keys_out, const int64_t* values_in,
           int64_t* values_out, int64_t n, int bits) {
  if (n == 0) return;
  DeviceGuard on(device.index);
  cudaStream_t stream = current_stream();
  with_storage(device, [&](void* temp, size_t& bytes) {
    return cub::DeviceRadixSort::SortPairs(temp, bytes, keys_in, keys_out, values_in, values_out, n, 0,
                                           bits > 0 ? bits : 1, stream);
  });
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
#endif
