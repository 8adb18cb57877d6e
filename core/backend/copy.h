#pragma once
// Copy family: strided copies with dtype conversion, fills, random fills,
// and byte copies between devices. Every function runs the kernel of its
// tensors' device (core/backend/kernel_device.h): core/cpu/copy.h or
// core/cuda/copy.h.
#include <cstdint>

#include "core/tensor.h"

namespace moe::backend {

// dst[...] = convert(src[...]) with src broadcast to dst's shape; any dtypes,
// any strides; dst must not overlap src. saturate: FP8 targets clamp to
// their largest finite value instead of becoming inf/NaN.
void copy_strided(const Tensor& dst, const Tensor& src, bool saturate);
// Every element of dst = value (converted to dst's dtype).
void fill(const Tensor& dst, double value);
// Philox fills of a contiguous tensor (core/random.h): the same numbers on
// every device.
void fill_uniform(const Tensor& dst, uint64_t seed, uint64_t stream);
void fill_normal(const Tensor& dst, uint64_t seed, uint64_t stream);

// dst = src byte for byte, dst and src on different devices (host <-> GPU,
// or GPU <-> GPU): both contiguous, one dtype, one shape. The one way data
// crosses devices; to_device (core/ops.h) is its op.
void copy_between_devices(const Tensor& dst, const Tensor& src);

// Upload (core/ops.h) on a GPU: a new tensor on device d holding src (a
// contiguous host tensor), copied beside the compute stream; *ticket is
// what finish_upload needs to order the current stream after the copy.
Tensor upload_ahead(const Tensor& src, Device d, void** ticket);
void finish_upload(const Tensor& dst, void* ticket);

}  // namespace moe::backend
