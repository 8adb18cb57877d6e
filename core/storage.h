#pragma once
#include <cstddef>
#include <memory>

#include "core/device.h"

namespace moe {

// Allocator interface: the CPU allocator below; the CUDA caching allocator
// implements the same interface.
class Allocator {
 public:
  virtual ~Allocator() = default;
  virtual void* allocate(size_t nbytes) = 0;
  virtual void deallocate(void* p, size_t nbytes) = 0;
  virtual Device device() const = 0;
};

// 64-byte aligned host memory (cache line / AVX-512 vector). Blocks of at
// least kCacheMin bytes are kept on free lists by rounded size and reused:
// glibc maps such blocks fresh on every allocation and unmaps them on free,
// so without a cache every large op output pays a page fault per 4 KiB (a
// training step allocates the same sizes every step). At most kCacheMax bytes
// stay cached; an allocation that fails empties the cache and retries.
class CpuAllocator final : public Allocator {
 public:
  static constexpr size_t kAlignment = 64;
  static constexpr size_t kCacheMin = size_t(1) << 20;
  static constexpr size_t kCacheMax = size_t(4) << 30;
  CpuAllocator();
  ~CpuAllocator() override;
  void* allocate(size_t nbytes) override;
  void deallocate(void* p, size_t nbytes) override;
  Device device() const override { return Device::cpu(); }
  size_t cached_bytes() const;
  void empty_cache();
  // The size a request of nbytes is served with (its free-list key).
  static size_t rounded_size(size_t nbytes);

 private:
  struct Cache;
  std::unique_ptr<Cache> cache_;
};

// The allocation seam: one function per device type, and allocator_for
// choosing between them.
CpuAllocator* cpu_allocator();
// The allocator of CUDA device `index`, defined by the CUDA backend
// (core/cuda/); a build without one throws moe::Error saying so
// (core/cuda/stubs.cc).
Allocator* cuda_allocator(int index);
// The allocator for a device.
Allocator* allocator_for(Device d);
// Tests only: allocations on a's device (a CUDA device) go to `a` instead of
// cuda_allocator, e.g. a fake device made of host memory, so that tests
// drive ops down to the CUDA side of the backend seam without a GPU.
// nullptr restores cuda_allocator. Returns the previous override.
Allocator* set_cuda_allocator_for_tests(Allocator* a);

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
