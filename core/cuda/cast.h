#pragma once
// f32 <-> narrow float conversion kernels; the per-element code is the same
// fp:: functions the CPU uses (core/dtype_convert.h).
#include <cstdint>

#include "core/cuda/runtime.h"
#include "core/dtype.h"

namespace moe::cuda {

// Device pointers. `to`/`from` is bf16 or f16 (2-byte codes) or f8e4m3 or
// f8e5m2 (1-byte codes); `saturate` applies to the FP8 formats. Asynchronous
// on `stream`.
void cast_from_f32(const float* src, void* dst, int64_t n, DType to, bool saturate, cudaStream_t stream = nullptr);
void cast_to_f32(const void* src, float* dst, int64_t n, DType from, cudaStream_t stream = nullptr);

}  // namespace moe::cuda
