#pragma once
// Caching allocator for device memory, modelled on PyTorch's
// CUDACachingAllocator. The policy is plain host code over RawDeviceMemory,
// so it builds and is tested in every configuration (tests use a malloc-backed
// fake); core/cuda/device_memory.h implements RawDeviceMemory over the CUDA
// runtime.
//
// Sizes. Requests are rounded up to 512 B. Rounded sizes up to 1 MiB are
// "small" and are carved from 2 MiB segments; larger ones are "large" and
// come from 20 MiB segments when under 10 MiB, else from a segment of the
// request rounded up to a 2 MiB multiple. The two pools never share a
// segment, so small tensors do not fragment large segments. A free block is
// split when the rest is at least 512 B (small pool) or more than 1 MiB (large
// pool); freeing a block merges it with free neighbours in its segment.
//
// Streams. Every block belongs to the stream it was allocated on, and goes
// back to that stream's free list: a later allocation on the same stream may
// reuse it at once, since stream order puts the new user's work after the old
// user's. A block, or a free segment, of stream A is never handed to stream B;
// B gets fresh memory, and A's free segments reach B only through the raw
// layer after empty_cache() or an out-of-memory retry released them.
// record_stream(p, S) marks that work on another stream S uses the block: at
// free, an event is recorded on each such stream, and the block rejoins its
// free list only once all those events have completed (checked at each
// allocation). empty_cache() and the out-of-memory retry wait for these events
// (the host blocks) so that such blocks can be released too.
//
// Threads. One mutex guards all state; calls into the raw layer are made
// under it (cudaMalloc and cudaFree synchronise the device anyway).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>

#include "core/device.h"
#include "core/storage.h"

namespace moe {

// Opaque handles: cudaStream_t / cudaEvent_t on a GPU. The null stream is the
// legacy default stream.
using StreamHandle = void*;
using EventHandle = void*;

// Raw device memory and events, without any caching.
class RawDeviceMemory {
 public:
  virtual ~RawDeviceMemory() = default;
  // nbytes of device memory, or nullptr when the device is out of memory
  // (other failures throw moe::Error).
  virtual void* allocate(size_t nbytes) = 0;
  virtual void release(void* p) = 0;
  virtual EventHandle create_event() = 0;
  virtual void record_event(EventHandle e, StreamHandle s) = 0;
  // True once the work the stream had when the event was recorded is done.
  virtual bool event_completed(EventHandle e) = 0;
  // Blocks the host until the event has completed.
  virtual void synchronize_event(EventHandle e) = 0;
  virtual void destroy_event(EventHandle e) = 0;
  // The stream of the calling thread; allocations through the Allocator
  // interface are ordered on it.
  virtual StreamHandle current_stream() = 0;
  virtual Device device() const = 0;
};

struct CachingAllocatorStats {
  size_t allocated_bytes = 0;       // rounded sizes of blocks handed out and not freed
  size_t reserved_bytes = 0;        // held from the raw layer (allocated + cached + pending)
  size_t pending_bytes = 0;         // freed, but waiting for events of other streams
  size_t peak_allocated_bytes = 0;
  size_t peak_reserved_bytes = 0;
  size_t raw_allocs = 0;            // successful raw allocate() calls (cudaMalloc)
  size_t raw_frees = 0;             // raw release() calls (cudaFree)
  size_t cache_hits = 0;            // allocations served from a cached free block
};

class CachingDeviceAllocator final : public Allocator {
 public:
  static constexpr size_t kMinBlockSize = 512;
  static constexpr size_t kSmallSize = size_t(1) << 20;         // largest small request
  static constexpr size_t kSmallSegment = size_t(2) << 20;      // segment of the small pool
  static constexpr size_t kMinLargeSegment = size_t(10) << 20;  // below: a kLargeSegment
  static constexpr size_t kLargeSegment = size_t(20) << 20;
  static constexpr size_t kRoundLarge = size_t(2) << 20;

  // raw must outlive the allocator.
  explicit CachingDeviceAllocator(RawDeviceMemory* raw);
  // Releases every segment to the raw layer: no pointer from this allocator
  // may be in use any more.
  ~CachingDeviceAllocator() override;
  CachingDeviceAllocator(const CachingDeviceAllocator&) = delete;
  CachingDeviceAllocator& operator=(const CachingDeviceAllocator&) = delete;

  // nullptr for 0 bytes; throws moe::Error when the device is out of memory
  // even after the cache was released.
  void* allocate(size_t nbytes, StreamHandle stream);
  // Frees a pointer returned by allocate (nullptr is ignored); throws
  // moe::Error for any other pointer.
  void free(void* p);
  // Work on `stream` uses p (a pointer returned by allocate, still allocated).
  void record_stream(void* p, StreamHandle stream);
  // Releases every wholly free segment to the raw layer, after waiting for
  // the events of freed blocks; segments with blocks in use stay.
  void empty_cache();
  CachingAllocatorStats stats() const;
  // Peaks restart from the current values.
  void reset_peak_stats();

  // Allocator: on the raw layer's current stream.
  void* allocate(size_t nbytes) override;
  void deallocate(void* p, size_t nbytes) override;
  Device device() const override;

  static size_t round_size(size_t nbytes);
  // The raw allocation a new segment for a rounded size gets.
  static size_t segment_size(size_t rounded);

 private:
  struct Block;
  struct State;
  // All below: mu_ held.
  Block* find_free_block(bool small, StreamHandle stream, size_t size);
  Block* new_segment(bool small, StreamHandle stream, void* p, size_t nbytes);
  void split(Block* b, size_t size);
  void insert_free(Block* b);
  void process_events();
  void synchronize_events();
  void release_free_segments();
  size_t largest_free_block() const;
  [[noreturn]] void throw_oom(size_t nbytes, size_t size, size_t seg) const;

  RawDeviceMemory* raw_;
  mutable std::mutex mu_;
  std::unique_ptr<State> s_;
};

}  // namespace moe
