#pragma once
#include "core/tensor.h"

namespace moe::cpu {
// dst[...] = convert(src[...]) with src broadcast to dst's shape; any dtypes,
// any strides (dst must not overlap src).
void copy_strided(const Tensor& dst, const Tensor& src, bool saturate);
// Every element of dst = value (converted to dst's dtype).
void fill(const Tensor& dst, double value);
// Random fills of a contiguous tensor (see core/random.h).
void fill_uniform(const Tensor& dst, uint64_t seed, uint64_t stream);
void fill_normal(const Tensor& dst, uint64_t seed, uint64_t stream);
}  // namespace moe::cpu
