#pragma once
#include <cstddef>
#include <memory>

#include "core/device.h"

namespace moe {

// Allocator interface: the CPU allocator now; the CUDA caching allocator
// implements the same interface.
class Allocator {
 public:
  virtual ~Allocator() = default;
  virtual void* allocate(size_t nbytes) = 0;
  virtual void deallocate(void* p, size_t nbytes) = 0;
  virtual Device device() const = 0;
};

// 64-byte aligned host memory (cache line / AVX-512 vector).
class CpuAllocator final : public Allocator {
 public:
  static constexpr size_t kAlignment = 64;
  void* allocate(size_t nbytes) override;
  void deallocate(void* p, size_t nbytes) override;
  Device device() const override { return Device::cpu(); }
};

Allocator* cpu_allocator();
// The allocator for a device; CUDA devices need the CUDA backend.
Allocator* allocator_for(Device d);
// Registered by the CUDA backend when it is built in.
void register_cuda_allocator(Allocator* a);

// A block of memory on one device, shared by every tensor that views it.
class Storage {
 public:
  Storage(size_t nbytes, Allocator* alloc);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  size_t nbytes() const { return nbytes_; }
  Device device() const { return alloc_->device(); }

 private:
  void* data_ = nullptr;
  size_t nbytes_ = 0;
  Allocator* alloc_ = nullptr;
};

}  // namespace moe
