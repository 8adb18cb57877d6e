#include "core/caching_allocator.h"

#include <algorithm>
#include <cstdio>
#include <functional>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/error.h"

namespace moe {

// A piece of a segment; the blocks of a segment form a doubly linked list in
// address order, so release can find its neighbours.
struct CachingDeviceAllocator::Block {
  void* ptr = nullptr;
  size_t size = 0;
  StreamHandle stream = nullptr;
  bool small = false;
  bool allocated = false;  // handed out, or freed and waiting on events
  Block* prev = nullptr;
  Block* next = nullptr;
  std::vector<StreamHandle> stream_uses;  // other streams, from record_stream
  int pending_events = 0;
};

namespace {

std::string bytes_str(size_t n) {
  char mib[32];
  std::snprintf(mib, sizeof(mib), "%.2f", double(n) / double(size_t(1) << 20));
  return std::to_string(n) + " bytes (" + mib + " MiB)";
}

}  // namespace

struct CachingDeviceAllocator::State {
  // Free lists ordered by (stream, size, address): lower_bound finds the
  // smallest block of one stream that fits, lowest address first.
  struct BlockLess {
    bool operator()(const Block* a, const Block* b) const {
      if (a->stream != b->stream) return std::less<StreamHandle>()(a->stream, b->stream);
      if (a->size != b->size) return a->size < b->size;
      return std::less<void*>()(a->ptr, b->ptr);
    }
  };
  std::set<Block*, BlockLess> small_free, large_free;
  std::unordered_map<void*, Block*> allocated;         // handed out, by pointer
  std::vector<std::pair<EventHandle, Block*>> pending;  // events of freed blocks
  std::vector<EventHandle> spare_events;               // completed, for reuse
  std::map<void*, size_t> segments;                    // raw allocations
  CachingAllocatorStats stats;

  std::set<Block*, BlockLess>& pool(bool small) { return small ? small_free : large_free; }
  void add_allocated(size_t n) {
    stats.allocated_bytes += n;
    stats.peak_allocated_bytes = std::max(stats.peak_allocated_bytes, stats.allocated_bytes);
  }
  void add_reserved(size_t n) {
    stats.reserved_bytes += n;
    stats.peak_reserved_bytes = std::max(stats.peak_reserved_bytes, stats.reserved_bytes);
  }
};

CachingDeviceAllocator::CachingDeviceAllocator(RawDeviceMemory* raw)
    : raw_(raw), s_(std::make_unique<State>()) {
  MOE_CHECK(raw_ != nullptr, "CachingDeviceAllocator: raw memory layer is null");
}

CachingDeviceAllocator::~CachingDeviceAllocator() {
  std::lock_guard<std::mutex> lock(mu_);
  synchronize_events();  // the streams may still use freed blocks
  for (EventHandle e : s_->spare_events) raw_->destroy_event(e);
  for (auto& [ptr, size] : s_->segments) raw_->release(ptr);
  for (Block* b : s_->small_free) delete b;
  for (Block* b : s_->large_free) delete b;
  for (auto& [ptr, b] : s_->allocated) delete b;
}

size_t CachingDeviceAllocator::round_size(size_t nbytes) {
  if (nbytes < kMinBlockSize) return kMinBlockSize;
  return (nbytes + kMinBlockSize - 1) / kMinBlockSize * kMinBlockSize;
}

size_t CachingDeviceAllocator::segment_size(size_t rounded) {
  if (rounded <= kSmallSize) return kSmallSegment;
  if (rounded < kMinLargeSegment) return kLargeSegment;
  return (rounded + kRoundLarge - 1) / kRoundLarge * kRoundLarge;
}

void* CachingDeviceAllocator::allocate(size_t nbytes, StreamHandle stream) {
  if (nbytes == 0) return nullptr;
  std::lock_guard<std::mutex> lock(mu_);
  // Beyond this, rounding would overflow; no device has that much memory.
  if (nbytes > std::numeric_limits<size_t>::max() / 2) throw_oom(nbytes, nbytes, nbytes);
  const size_t size = round_size(nbytes);
  const bool small = size <= kSmallSize;
  process_events();
  Block* b = find_free_block(small, stream, size);
  if (b != nullptr) {
    ++s_->stats.cache_hits;
  } else {
    const size_t seg = segment_size(size);
    void* p = raw_->allocate(seg);
    if (p == nullptr) {
      synchronize_events();
      release_free_segments();
      p = raw_->allocate(seg);
    }
    if (p == nullptr) throw_oom(nbytes, size, seg);
    b = new_segment(small, stream, p, seg);
  }
  split(b, size);
  b->allocated = true;
  s_->allocated.emplace(b->ptr, b);
  s_->add_allocated(b->size);
  return b->ptr;
}

void CachingDeviceAllocator::free(void* p) {
  if (p == nullptr) return;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = s_->allocated.find(p);
  MOE_CHECK(it != s_->allocated.end(), "CachingDeviceAllocator::free on ", device(), ": pointer ", p,
            " was not allocated here or is already freed");
  Block* b = it->second;
  s_->allocated.erase(it);
  s_->stats.allocated_bytes -= b->size;
  if (b->stream_uses.empty()) {
    insert_free(b);
    return;
  }
  // Reuse must wait until the other streams' work queued so far is done.
  for (StreamHandle other : b->stream_uses) {
    EventHandle e;
    if (s_->spare_events.empty()) {
      e = raw_->create_event();
    } else {
      e = s_->spare_events.back();
      s_->spare_events.pop_back();
    }
    raw_->record_event(e, other);
    s_->pending.emplace_back(e, b);
    ++b->pending_events;
  }
  b->stream_uses.clear();
  s_->stats.pending_bytes += b->size;
}

void CachingDeviceAllocator::record_stream(void* p, StreamHandle stream) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = s_->allocated.find(p);
  MOE_CHECK(it != s_->allocated.end(), "CachingDeviceAllocator::record_stream on ", device(), ": pointer ", p,
            " is not an allocated block of this allocator");
  Block* b = it->second;
  if (stream == b->stream) return;  // stream order already protects it
  if (std::find(b->stream_uses.begin(), b->stream_uses.end(), stream) == b->stream_uses.end())
    b->stream_uses.push_back(stream);
}

void CachingDeviceAllocator::empty_cache() {
  std::lock_guard<std::mutex> lock(mu_);
  synchronize_events();
  release_free_segments();
}

CachingAllocatorStats CachingDeviceAllocator::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return s_->stats;
}

void CachingDeviceAllocator::reset_peak_stats() {
  std::lock_guard<std::mutex> lock(mu_);
  s_->stats.peak_allocated_bytes = s_->stats.allocated_bytes;
  s_->stats.peak_reserved_bytes = s_->stats.reserved_bytes;
}

void* CachingDeviceAllocator::allocate(size_t nbytes) { return allocate(nbytes, raw_->current_stream()); }

void CachingDeviceAllocator::deallocate(void* p, size_t /*nbytes*/) { free(p); }

Device CachingDeviceAllocator::device() const { return raw_->device(); }

auto CachingDeviceAllocator::find_free_block(bool small, StreamHandle stream, size_t size) -> Block* {
  auto& pool = s_->pool(small);
  Block key;
  key.stream = stream;
  key.size = size;
  auto it = pool.lower_bound(&key);
  if (it == pool.end() || (*it)->stream != stream) return nullptr;
  Block* b = *it;
  pool.erase(it);
  return b;
}

auto CachingDeviceAllocator::new_segment(bool small, StreamHandle stream, void* p, size_t nbytes) -> Block* {
  Block* b = new Block;
  b->ptr = p;
  b->size = nbytes;
  b->stream = stream;
  b->small = small;
  s_->segments.emplace(p, nbytes);
  s_->add_reserved(nbytes);
  ++s_->stats.raw_allocs;
  return b;
}

void CachingDeviceAllocator::split(Block* b, size_t size) {
  const size_t rest = b->size - size;
  // A large-pool remainder of 1 MiB or less is not worth a block: large
  // requests are over 1 MiB, so it could only serve after a merge.
  if (b->small ? rest < kMinBlockSize : rest <= kSmallSize) return;
  Block* r = new Block;
  r->ptr = static_cast<char*>(b->ptr) + size;
  r->size = rest;
  r->stream = b->stream;
  r->small = b->small;
  r->prev = b;
  r->next = b->next;
  if (b->next != nullptr) b->next->prev = r;
  b->next = r;
  b->size = size;
  // b's neighbours were not free (free blocks are always merged), so r's
  // next is not either: no merge needed.
  s_->pool(r->small).insert(r);
}

void CachingDeviceAllocator::insert_free(Block* b) {
  auto& pool = s_->pool(b->small);
  b->allocated = false;
  if (Block* prev = b->prev; prev != nullptr && !prev->allocated) {
    pool.erase(prev);
    b->ptr = prev->ptr;
    b->size += prev->size;
    b->prev = prev->prev;
    if (b->prev != nullptr) b->prev->next = b;
    delete prev;
  }
  if (Block* next = b->next; next != nullptr && !next->allocated) {
    pool.erase(next);
    b->size += next->size;
    b->next = next->next;
    if (b->next != nullptr) b->next->prev = b;
    delete next;
  }
  pool.insert(b);
}

void CachingDeviceAllocator::process_events() {
  auto& pending = s_->pending;
  size_t kept = 0;
  for (size_t i = 0; i < pending.size(); ++i) {
    auto [e, b] = pending[i];
    if (!raw_->event_completed(e)) {
      pending[kept++] = pending[i];
      continue;
    }
    s_->spare_events.push_back(e);
    if (--b->pending_events == 0) {
      s_->stats.pending_bytes -= b->size;
      insert_free(b);
    }
  }
  pending.resize(kept);
}

void CachingDeviceAllocator::synchronize_events() {
  for (auto& [e, b] : s_->pending) raw_->synchronize_event(e);
  process_events();
}

void CachingDeviceAllocator::release_free_segments() {
  for (auto* pool : {&s_->small_free, &s_->large_free}) {
    for (auto it = pool->begin(); it != pool->end();) {
      Block* b = *it;
      if (b->prev != nullptr || b->next != nullptr) {
        ++it;
        continue;
      }
      raw_->release(b->ptr);
      s_->segments.erase(b->ptr);
      s_->stats.reserved_bytes -= b->size;
      ++s_->stats.raw_frees;
      it = pool->erase(it);
      delete b;
    }
  }
}

size_t CachingDeviceAllocator::largest_free_block() const {
  size_t m = 0;
  for (const auto* pool : {&s_->small_free, &s_->large_free})
    for (const Block* b : *pool) m = std::max(m, b->size);
  return m;
}

void CachingDeviceAllocator::throw_oom(size_t nbytes, size_t size, size_t seg) const {
  const CachingAllocatorStats& st = s_->stats;
  std::ostringstream os;
  os << "out of device memory on " << raw_->device() << ": cannot allocate " << bytes_str(nbytes)
     << " (rounded to " << size << " bytes, needing a new segment of " << seg << " bytes); reserved "
     << bytes_str(st.reserved_bytes) << ", allocated " << bytes_str(st.allocated_bytes) << ", largest free block "
     << bytes_str(largest_free_block()) << ", waiting on stream events " << bytes_str(st.pending_bytes)
     << "; the cached free segments were released and the allocation retried once";
  throw Error(os.str());
}

}  // namespace moe
