#include "core/storage.h"

#include <cstdlib>
#include <new>

#include "core/error.h"

namespace moe {

void* CpuAllocator::allocate(size_t nbytes) {
  if (nbytes == 0) return nullptr;
  const size_t rounded = (nbytes + kAlignment - 1) / kAlignment * kAlignment;
  void* p = std::aligned_alloc(kAlignment, rounded);
  MOE_CHECK(p != nullptr, "CPU allocation of ", nbytes, " bytes failed");
  return p;
}

void CpuAllocator::deallocate(void* p, size_t) { std::free(p); }

Allocator* cpu_allocator() {
  static CpuAllocator a;
  return &a;
}

namespace {
Allocator* g_cuda_allocator = nullptr;
}

void register_cuda_allocator(Allocator* a) { g_cuda_allocator = a; }

Allocator* allocator_for(Device d) {
  if (d.is_cpu()) return cpu_allocator();
  MOE_CHECK(g_cuda_allocator != nullptr, "no allocator for device ", d,
            ": this build has no CUDA backend or no GPU was initialised");
  return g_cuda_allocator;
}

Storage::Storage(size_t nbytes, Allocator* alloc) : nbytes_(nbytes), alloc_(alloc) {
  data_ = alloc_->allocate(nbytes);
}

Storage::~Storage() { alloc_->deallocate(data_, nbytes_); }

}  // namespace moe
