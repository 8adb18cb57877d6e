#pragma once
// CUDA kernels of the copy family (core/backend/copy.h documents each function).
// Plain C++ declarations, so every build sees them: without a kernel, or
// without CUDA, the definition is a stub that throws (core/cuda/stubs.cc);
// a kernel replaces its stub in core/cuda/copy.cu.
#include <cstdint>

#include "core/tensor.h"

namespace moe::cuda {

void copy_strided(const Tensor& dst, const Tensor& src, bool saturate);
void fill(const Tensor& dst, double value);
void fill_uniform(const Tensor& dst, uint64_t seed, uint64_t stream);
void fill_normal(const Tensor& dst, uint64_t seed, uint64_t stream);
// Either side may be on the host.
void copy_between_devices(const Tensor& dst, const Tensor& src);
// core/backend/copy.h's upload_ahead / finish_upload.
Tensor upload_ahead(const Tensor& src, int device, void** ticket);
void finish_upload(const Tensor& dst, void* ticket);

}  // namespace moe::cuda
