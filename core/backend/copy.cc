#include "core/backend/copy.h"

#include <cstring>

#include "core/backend/kernel_device.h"
#include "core/cpu/copy.h"
#include "core/cuda/copy.h"

namespace moe::backend {

void copy_strided(const Tensor& dst, const Tensor& src, bool saturate) {
  switch (kernel_device("copy_strided", dst, src)) {
    case DeviceType::cpu: return cpu::copy_strided(dst, src, saturate);
    case DeviceType::cuda: return cuda::copy_strided(dst, src, saturate);
  }
  unknown_device("copy_strided", dst.device().type);
}

void fill(const Tensor& dst, double value) {
  switch (kernel_device("fill", dst)) {
    case DeviceType::cpu: return cpu::fill(dst, value);
    case DeviceType::cuda: return cuda::fill(dst, value);
  }
  unknown_device("fill", dst.device().type);
}

void fill_uniform(const Tensor& dst, uint64_t seed, uint64_t stream) {
  switch (kernel_device("fill_uniform", dst)) {
    case DeviceType::cpu: return cpu::fill_uniform(dst, seed, stream);
    case DeviceType::cuda: return cuda::fill_uniform(dst, seed, stream);
  }
  unknown_device("fill_uniform", dst.device().type);
}

void fill_normal(const Tensor& dst, uint64_t seed, uint64_t stream) {
  switch (kernel_device("fill_normal", dst)) {
    case DeviceType::cpu: return cpu::fill_normal(dst, seed, stream);
    case DeviceType::cuda: return cuda::fill_normal(dst, seed, stream);
  }
  unknown_device("fill_normal", dst.device().type);
}

// Not one device: any GPU side makes it a CUDA copy.
void copy_between_devices(const Tensor& dst, const Tensor& src) {
  MOE_CHECK(dst.is_contiguous() && src.is_contiguous() && dst.dtype() == src.dtype() && dst.shape() == src.shape(),
            "backend copy_between_devices: needs contiguous tensors of one dtype and shape, got ", dst.str(), " and ",
            src.str());
  if (dst.device().is_cpu() && src.device().is_cpu()) {
    if (dst.numel() > 0) std::memcpy(dst.raw_data(), src.raw_data(), size_t(dst.numel()) * dtype_size(dst.dtype()));
    return;
  }
  cuda::copy_between_devices(dst, src);
}

Tensor upload_ahead(const Tensor& src, Device d, void** ticket) {
  MOE_CHECK(src.device().is_cpu() && src.is_contiguous(), "backend upload_ahead: needs a contiguous host tensor, got ",
            src.str());
  MOE_CHECK(d.is_cuda(), "backend upload_ahead: ", d.str(), " is not a GPU (a host upload is the tensor itself)");
  return cuda::upload_ahead(src, d.index, ticket);
}

void finish_upload(const Tensor& dst, void* ticket) {
  MOE_CHECK(dst.device().is_cuda(), "backend finish_upload: ", dst.str(), " is not on a GPU");
  cuda::finish_upload(dst, ticket);
}

}  // namespace moe::backend
