// The device caching allocator's policy (core/caching_allocator.h) on a
// malloc-backed fake of the raw layer: reuse, splitting, merging, per-stream
// free lists, cross-stream events, statistics, empty_cache and out of memory.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "core/caching_allocator.h"
#include "core/error.h"

namespace moe {
namespace {

constexpr size_t kMiB = size_t(1) << 20;
using CDA = CachingDeviceAllocator;

StreamHandle stream(int i) { return reinterpret_cast<StreamHandle>(uintptr_t(i)); }

// Raw memory from malloc with an optional capacity; events complete only when
// the test completes their stream (or the allocator waits on them).
class FakeDeviceMemory final : public RawDeviceMemory {
 public:
  explicit FakeDeviceMemory(size_t capacity = SIZE_MAX) : capacity_(capacity) {}
  ~FakeDeviceMemory() override {
    for (auto& [p, n] : live_) std::free(p);
    for (auto& [e, ev] : events_) delete ev;
  }

  void* allocate(size_t nbytes) override {
    ++allocate_calls;
    if (nbytes > capacity_ - used_) return nullptr;
    void* p = std::aligned_alloc(512, nbytes);
    if (p == nullptr) return nullptr;
    live_[p] = nbytes;
    used_ += nbytes;
    return p;
  }
  void release(void* p) override {
    auto it = live_.find(p);
    if (it == live_.end()) ADD_FAILURE() << "release of a pointer the fake did not allocate";
    if (it == live_.end()) return;
    used_ -= it->second;
    live_.erase(it);
    std::free(p);
  }
  EventHandle create_event() override {
    Event* ev = new Event;
    events_[ev] = ev;
    return ev;
  }
  void record_event(EventHandle e, StreamHandle s) override {
    Event* ev = get(e);
    ev->stream = s;
    ev->done = false;
  }
  bool event_completed(EventHandle e) override { return get(e)->done; }
  void synchronize_event(EventHandle e) override {
    ++synchronize_calls;
    get(e)->done = true;  // the host waited until the stream got there
  }
  void destroy_event(EventHandle e) override {
    delete get(e);
    events_.erase(e);
  }
  StreamHandle current_stream() override { return current; }
  Device device() const override { return Device::cuda(3); }

  // All work queued on s so far has finished.
  void complete_stream(StreamHandle s) {
    for (auto& [e, ev] : events_)
      if (ev->stream == s) ev->done = true;
  }
  size_t used() const { return used_; }
  size_t live_segments() const { return live_.size(); }
  size_t live_events() const { return events_.size(); }

  StreamHandle current = nullptr;
  int allocate_calls = 0;
  int synchronize_calls = 0;

 private:
  struct Event {
    StreamHandle stream = nullptr;
    bool done = true;  // an event never recorded has completed (as in CUDA)
  };
  Event* get(EventHandle e) {
    auto it = events_.find(e);
    if (it == events_.end()) throw Error("fake: unknown event");
    return it->second;
  }
  size_t capacity_;
  size_t used_ = 0;
  std::map<void*, size_t> live_;
  std::map<void*, Event*> events_;
};

TEST(CachingAllocator, SizeClasses) {
  EXPECT_EQ(CDA::round_size(1), 512u);
  EXPECT_EQ(CDA::round_size(512), 512u);
  EXPECT_EQ(CDA::round_size(513), 1024u);
  EXPECT_EQ(CDA::segment_size(512), 2 * kMiB);
  EXPECT_EQ(CDA::segment_size(kMiB), 2 * kMiB);
  EXPECT_EQ(CDA::segment_size(kMiB + 512), 20 * kMiB);
  EXPECT_EQ(CDA::segment_size(10 * kMiB - 512), 20 * kMiB);
  EXPECT_EQ(CDA::segment_size(10 * kMiB), 10 * kMiB);
  EXPECT_EQ(CDA::segment_size(11 * kMiB), 12 * kMiB);
}

TEST(CachingAllocator, FreedBlockOfTheSameClassIsReusedWithoutRawAllocation) {
  FakeDeviceMemory raw;
  CDA a(&raw);
  void* p = a.allocate(12 * kMiB + 100, stream(0));
  a.free(p);
  void* q = a.allocate(12 * kMiB, stream(0));  // same rounded segment class
  EXPECT_EQ(q, p);
  EXPECT_EQ(a.stats().raw_allocs, 1u);
  EXPECT_EQ(a.stats().cache_hits, 1u);
  EXPECT_EQ(raw.allocate_calls, 1);
  a.free(q);
}

TEST(CachingAllocator, SmallRequestsAreCarvedFromOneSegment) {
  FakeDeviceMemory raw;
  CDA a(&raw);
  char* p = static_cast<char*>(a.allocate(100, stream(0)));
  char* q = static_cast<char*>(a.allocate(1000, stream(0)));
  EXPECT_EQ(q, p + 512);  // 100 B rounds to one 512 B block; q is the next piece
  EXPECT_EQ(a.stats().raw_allocs, 1u);
  EXPECT_EQ(a.stats().reserved_bytes, 2 * kMiB);
  EXPECT_EQ(a.stats().allocated_bytes, 512u + 1024u);
  // Small requests never come out of a large segment, and vice versa.
  void* big = a.allocate(3 * kMiB, stream(0));
  EXPECT_EQ(a.stats().raw_allocs, 2u);
  a.free(p);
  a.free(q);
  a.free(big);
}

TEST(CachingAllocator, AdjacentFreeBlocksMerge) {
  FakeDeviceMemory raw;
  CDA a(&raw);
  char* p = static_cast<char*>(a.allocate(5 * kMiB, stream(0)));  // a 20 MiB segment, split
  char* q = static_cast<char*>(a.allocate(5 * kMiB, stream(0)));
  EXPECT_EQ(q, p + 5 * kMiB);
  EXPECT_EQ(a.stats().raw_allocs, 1u);
  a.free(q);  // merges with the free 10 MiB tail
  a.free(p);  // merges with the rest: the whole segment is one free block
  void* r = a.allocate(18 * kMiB, stream(0));
  EXPECT_EQ(r, p);
  EXPECT_EQ(a.stats().raw_allocs, 1u);
  EXPECT_EQ(a.stats().cache_hits, 2u);
  // 2 MiB left is above the 1 MiB split threshold of the large pool.
  EXPECT_EQ(a.stats().allocated_bytes, 18 * kMiB);
  a.free(r);
  // The other order: the second free merges with its free predecessor too.
  p = static_cast<char*>(a.allocate(5 * kMiB, stream(0)));
  q = static_cast<char*>(a.allocate(5 * kMiB, stream(0)));
  a.free(p);
  a.free(q);
  r = a.allocate(18 * kMiB, stream(0));
  EXPECT_EQ(r, p);
  EXPECT_EQ(a.stats().raw_allocs, 1u);
  a.free(r);
}

TEST(CachingAllocator, FreedBlockGoesOnlyToItsOwnStream) {
  FakeDeviceMemory raw;
  CDA a(&raw);
  void* p = a.allocate(4 * kMiB, stream(1));
  a.free(p);
  // Stream 2 gets fresh memory, even though stream 1 has a free block that fits.
  void* q = a.allocate(4 * kMiB, stream(2));
  EXPECT_NE(q, p);
  EXPECT_EQ(a.stats().raw_allocs, 2u);
  // Stream 1 gets its block back.
  void* r = a.allocate(4 * kMiB, stream(1));
  EXPECT_EQ(r, p);
  EXPECT_EQ(a.stats().raw_allocs, 2u);
  a.free(q);
  a.free(r);
  // Once released to the raw layer, stream 1's memory can reach stream 2.
  a.empty_cache();
  EXPECT_EQ(raw.live_segments(), 0u);
}

TEST(CachingAllocator, RecordStreamDefersReuseUntilItsEventCompletes) {
  FakeDeviceMemory raw;
  CDA a(&raw);
  void* p = a.allocate(3 * kMiB, stream(1));
  a.record_stream(p, stream(2));
  a.record_stream(p, stream(1));  // its own stream: nothing to wait for
  a.free(p);
  EXPECT_EQ(raw.live_events(), 1u);
  EXPECT_EQ(a.stats().pending_bytes, 3 * kMiB);
  EXPECT_EQ(a.stats().allocated_bytes, 0u);
  // Stream 2 may still read p: stream 1 must not get it back yet.
  void* q = a.allocate(3 * kMiB, stream(1));
  EXPECT_NE(q, p);
  raw.complete_stream(stream(2));
  void* r = a.allocate(3 * kMiB, stream(1));
  EXPECT_EQ(r, p);
  EXPECT_EQ(a.stats().pending_bytes, 0u);
  // The completed event is kept for the next cross-stream free.
  a.record_stream(r, stream(2));
  a.free(r);
  EXPECT_EQ(raw.live_events(), 1u);
  a.free(q);
}

TEST(CachingAllocator, BlockUsedOnTwoOtherStreamsWaitsForBoth) {
  FakeDeviceMemory raw;
  CDA a(&raw);
  void* p = a.allocate(700, stream(1));
  a.record_stream(p, stream(2));
  a.record_stream(p, stream(3));
  a.free(p);
  raw.complete_stream(stream(2));
  void* q = a.allocate(700, stream(1));
  EXPECT_NE(q, p);
  raw.complete_stream(stream(3));
  void* r = a.allocate(700, stream(1));
  EXPECT_EQ(r, p);
  a.free(q);
  a.free(r);
}

TEST(CachingAllocator, StatsAfterAScriptedSequence) {
  FakeDeviceMemory raw;
  CDA a(&raw);
  void* s1 = a.allocate(1000, stream(0));       // 1024 B from a new 2 MiB segment
  void* l1 = a.allocate(3 * kMiB, stream(0));   // new 20 MiB segment, split
  void* l2 = a.allocate(16 * kMiB, stream(0));  // from the 17 MiB tail, 1 MiB left unsplit
  a.free(l1);
  void* l3 = a.allocate(2 * kMiB, stream(0));   // from l1's 3 MiB, 1 MiB left unsplit
  void* l4 = a.allocate(40 * kMiB, stream(0));  // new 40 MiB segment
  a.free(l4);
  a.free(s1);
  const CachingAllocatorStats st = a.stats();
  EXPECT_EQ(st.allocated_bytes, 3 * kMiB + 17 * kMiB);  // l3 and l2 whole blocks
  EXPECT_EQ(st.reserved_bytes, 62 * kMiB);
  EXPECT_EQ(st.peak_allocated_bytes, 1024 + 20 * kMiB + 40 * kMiB);
  EXPECT_EQ(st.peak_reserved_bytes, 62 * kMiB);
  EXPECT_EQ(st.raw_allocs, 3u);
  EXPECT_EQ(st.raw_frees, 0u);
  EXPECT_EQ(st.cache_hits, 2u);
  EXPECT_EQ(st.pending_bytes, 0u);
  a.empty_cache();  // the small and the 40 MiB segments are wholly free
  EXPECT_EQ(a.stats().reserved_bytes, 20 * kMiB);
  EXPECT_EQ(a.stats().raw_frees, 2u);
  a.reset_peak_stats();
  EXPECT_EQ(a.stats().peak_allocated_bytes, 20 * kMiB);
  EXPECT_EQ(a.stats().peak_reserved_bytes, 20 * kMiB);
  a.free(l2);
  a.free(l3);
}

TEST(CachingAllocator, EmptyCacheReleasesFreeSegmentsAndKeepsUsedOnes) {
  FakeDeviceMemory raw;
  CDA a(&raw);
  void* used = a.allocate(5 * kMiB, stream(0));
  void* f1 = a.allocate(30 * kMiB, stream(0));
  void* f2 = a.allocate(600, stream(1));
  void* pend = a.allocate(12 * kMiB, stream(1));
  a.record_stream(pend, stream(2));
  a.free(f1);
  a.free(f2);
  a.free(pend);
  EXPECT_EQ(raw.live_segments(), 4u);
  a.empty_cache();  // waits for pend's event, then releases all but `used`'s segment
  EXPECT_EQ(raw.synchronize_calls, 1);
  EXPECT_EQ(raw.live_segments(), 1u);
  EXPECT_EQ(raw.used(), 20 * kMiB);
  EXPECT_EQ(a.stats().raw_frees, 3u);
  EXPECT_EQ(a.stats().reserved_bytes, 20 * kMiB);
  EXPECT_EQ(a.stats().allocated_bytes, 5 * kMiB);
  std::memset(used, 0xab, 5 * kMiB);  // still valid memory
  a.free(used);
  a.empty_cache();
  EXPECT_EQ(raw.live_segments(), 0u);
  EXPECT_EQ(a.stats().raw_frees, 4u);
  EXPECT_EQ(a.stats().reserved_bytes, 0u);
}

TEST(CachingAllocator, OutOfMemoryNamesRequestReservedAllocatedAndLargestFree) {
  FakeDeviceMemory raw(40 * kMiB);
  CDA a(&raw);
  void* p = a.allocate(5 * kMiB, stream(0));   // 20 MiB segment: 15 MiB stays free
  void* q = a.allocate(16 * kMiB, stream(0));  // too big for that: a 16 MiB segment
  try {
    a.allocate(18 * kMiB, stream(0));  // fits neither the 15 MiB block nor the 4 MiB left
    ADD_FAILURE() << "expected out of memory";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("cuda:3"), std::string::npos) << m;
    EXPECT_NE(m.find("allocate " + std::to_string(18 * kMiB) + " bytes"), std::string::npos) << m;
    EXPECT_NE(m.find("reserved " + std::to_string(36 * kMiB) + " bytes"), std::string::npos) << m;
    EXPECT_NE(m.find("allocated " + std::to_string(21 * kMiB) + " bytes"), std::string::npos) << m;
    EXPECT_NE(m.find("largest free block " + std::to_string(15 * kMiB) + " bytes"), std::string::npos) << m;
  }
  EXPECT_EQ(raw.allocate_calls, 4);  // two segments, then the failed try and its retry
  EXPECT_EQ(a.stats().raw_frees, 0u);
  // The failure left the allocator usable.
  a.free(q);  // now a wholly free segment the retry can release
  void* r = a.allocate(18 * kMiB, stream(0));
  EXPECT_NE(r, nullptr);
  EXPECT_EQ(a.stats().raw_frees, 1u);
  a.free(p);
  a.free(r);
}

TEST(CachingAllocator, OutOfMemoryRetryAfterReleasingTheCacheSucceeds) {
  FakeDeviceMemory raw(40 * kMiB);
  CDA a(&raw);
  void* p = a.allocate(30 * kMiB, stream(1));
  a.record_stream(p, stream(2));
  a.free(p);  // cached on stream 1, and waiting for stream 2
  // Stream 3 cannot use stream 1's cache: the raw allocation fails, the
  // allocator waits for the event, releases the segment and retries.
  void* q = a.allocate(20 * kMiB, stream(3));
  EXPECT_NE(q, nullptr);
  EXPECT_EQ(raw.synchronize_calls, 1);
  EXPECT_EQ(a.stats().raw_frees, 1u);
  EXPECT_EQ(a.stats().raw_allocs, 2u);
  EXPECT_EQ(a.stats().reserved_bytes, 20 * kMiB);
  a.free(q);
}

TEST(CachingAllocator, AllocatorInterfaceUsesTheCurrentStream) {
  FakeDeviceMemory raw;
  CDA a(&raw);
  Allocator& base = a;
  EXPECT_EQ(base.device(), Device::cuda(3));
  EXPECT_EQ(base.allocate(0), nullptr);
  raw.current = stream(5);
  void* p = base.allocate(4096);
  base.deallocate(p, 4096);
  raw.current = stream(6);
  void* q = base.allocate(4096);
  EXPECT_NE(q, p);  // p sits on stream 5's free list
  raw.current = stream(5);
  void* r = base.allocate(4096);
  EXPECT_EQ(r, p);
  base.deallocate(q, 4096);
  base.deallocate(r, 4096);
}

TEST(CachingAllocator, MisuseIsReported) {
  FakeDeviceMemory raw;
  CDA a(&raw);
  void* p = a.allocate(1024, stream(0));
  EXPECT_THROW(a.free(static_cast<char*>(p) + 512), Error);
  EXPECT_THROW(a.record_stream(static_cast<char*>(p) + 512, stream(1)), Error);
  a.free(p);
  try {
    a.free(p);
    ADD_FAILURE() << "double free not reported";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("already freed"), std::string::npos) << e.what();
  }
  a.free(nullptr);
}

// Threads on their own streams never get overlapping blocks, and the
// counters add up afterwards: the mutex serialises all bookkeeping.
TEST(CachingAllocator, ConcurrentThreadsGetDisjointBlocks) {
  FakeDeviceMemory raw;
  CDA a(&raw);
  std::vector<std::thread> threads;
  std::vector<int> errors(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      uint32_t x = 12345u + uint32_t(t);
      std::vector<std::pair<unsigned char*, size_t>> live;
      for (int i = 0; i < 3000; ++i) {
        x = x * 1664525u + 1013904223u;
        if (live.size() < 16 && (x >> 28) < 10) {
          const size_t n = (x >> 8) % 3 == 0 ? (x % (3 * kMiB)) + 1 : (x % 8192) + 1;
          auto* p = static_cast<unsigned char*>(a.allocate(n, stream(t % 2)));
          std::memset(p, t + 1, n);
          live.emplace_back(p, n);
        } else if (!live.empty()) {
          auto [p, n] = live[x % live.size()];
          if (p[0] != t + 1 || p[n - 1] != t + 1) ++errors[size_t(t)];
          a.free(p);
          live.erase(live.begin() + long(x % live.size()));
        }
      }
      for (auto [p, n] : live) a.free(p);
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < 4; ++t) EXPECT_EQ(errors[size_t(t)], 0) << "thread " << t;
  const CachingAllocatorStats st = a.stats();
  EXPECT_EQ(st.allocated_bytes, 0u);
  EXPECT_EQ(st.reserved_bytes, raw.used());
  EXPECT_EQ(st.raw_allocs, raw.live_segments());
  a.empty_cache();
  EXPECT_EQ(raw.live_segments(), 0u);
}

TEST(CachingAllocator, DestructionReturnsAllMemoryAndEvents) {
  FakeDeviceMemory raw;
  {
    CDA a(&raw);
    void* p = a.allocate(3 * kMiB, stream(1));
    a.allocate(100, stream(1));  // still allocated when the allocator goes
    a.record_stream(p, stream(2));
    a.free(p);
  }
  EXPECT_EQ(raw.live_segments(), 0u);
  EXPECT_EQ(raw.live_events(), 0u);
}

}  // namespace
}  // namespace moe
