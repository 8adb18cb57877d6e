#include "core/storage.h"

#include <atomic>
#include <cstdlib>
#include <map>
#include <mutex>
#include <new>
#include <vector>

#include "core/error.h"

namespace moe {

struct CpuAllocator::Cache {
  std::mutex mu;
  std::map<size_t, std::vector<void*>> free_blocks;  // rounded size -> blocks
  size_t bytes = 0;
};

CpuAllocator::CpuAllocator() : cache_(std::make_unique<Cache>()) {}
CpuAllocator::~CpuAllocator() { empty_cache(); }

size_t CpuAllocator::rounded_size(size_t nbytes) {
  const size_t aligned = (nbytes + kAlignment - 1) / kAlignment * kAlignment;
  if (aligned < kCacheMin) return aligned;
  // Eight size classes per power of two: at most 12.5% slack.
  size_t pow2 = kCacheMin;
  while (pow2 * 2 <= aligned) pow2 *= 2;
  const size_t step = pow2 / 8;
  return (aligned + step - 1) / step * step;
}

void* CpuAllocator::allocate(size_t nbytes) {
  if (nbytes == 0) return nullptr;
  const size_t rounded = rounded_size(nbytes);
  if (rounded >= kCacheMin) {
    Cache* c = cache_.get();
    std::lock_guard<std::mutex> lock(c->mu);
    auto it = c->free_blocks.find(rounded);
    if (it != c->free_blocks.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      c->bytes -= rounded;
      return p;
    }
  }
  void* p = std::aligned_alloc(kAlignment, rounded);
  if (p == nullptr && rounded >= kCacheMin) {
    empty_cache();
    p = std::aligned_alloc(kAlignment, rounded);
  }
  MOE_CHECK(p != nullptr, "CPU allocation of ", nbytes, " bytes failed");
  return p;
}

void CpuAllocator::deallocate(void* p, size_t nbytes) {
  if (p == nullptr) return;
  const size_t rounded = rounded_size(nbytes);
  if (rounded >= kCacheMin) {
    Cache* c = cache_.get();
    std::lock_guard<std::mutex> lock(c->mu);
    if (c->bytes + rounded <= kCacheMax) {
      c->free_blocks[rounded].push_back(p);
      c->bytes += rounded;
      return;
    }
  }
  std::free(p);
}

size_t CpuAllocator::cached_bytes() const {
  std::lock_guard<std::mutex> lock(cache_->mu);
  return cache_->bytes;
}

void CpuAllocator::empty_cache() {
  std::lock_guard<std::mutex> lock(cache_->mu);
  for (auto& [size, blocks] : cache_->free_blocks)
    for (void* p : blocks) std::free(p);
  cache_->free_blocks.clear();
  cache_->bytes = 0;
}

CpuAllocator* cpu_allocator() {
  // Never destroyed: tensors in static objects may outlive other statics.
  static CpuAllocator* a = new CpuAllocator();
  return a;
}

namespace {
std::atomic<Allocator*> g_cuda_test_allocator{nullptr};
}

Allocator* set_cuda_allocator_for_tests(Allocator* a) {
  MOE_CHECK(a == nullptr || a->device().is_cuda(), "set_cuda_allocator_for_tests: needs a CUDA-device allocator, got ",
            a->device());
  return g_cuda_test_allocator.exchange(a);
}

Allocator* allocator_for(Device d) {
  switch (d.type) {
    case DeviceType::cpu: return cpu_allocator();
    case DeviceType::cuda: {
      if (Allocator* a = g_cuda_test_allocator.load()) {
        MOE_CHECK(a->device() == d, "cannot allocate on ", d, ": the test allocator serves ", a->device(), " only");
        return a;
      }
      return cuda_allocator(d.index);
    }
  }
  MOE_CHECK(false, "no allocator for device type ", int(d.type));
}

Storage::Storage(size_t nbytes, Allocator* alloc) : nbytes_(nbytes), alloc_(alloc) {
  data_ = alloc_->allocate(nbytes);
}

Storage::~Storage() { alloc_->deallocate(data_, nbytes_); }

}  // namespace moe
