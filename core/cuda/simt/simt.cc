// Kernel execution of the SIMT shim: the thread pool that runs blocks, and
// barriers and warp exchanges with their checks. The runtime API is in
// runtime_api.cc.
#include <algorithm>
#include <chrono>
#include <map>
#include <cstdio>
#include <cstring>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#define MOE_SIMT_TSAN 1
extern "C" void __tsan_ignore_thread_begin();
extern "C" void __tsan_ignore_thread_end();
#endif
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#define MOE_SIMT_ASAN 1
#endif

#include "core/cuda/simt/internal.h"

// ---- Context switches between fibers ---------------------------------------
// x86-64: a switch pushes the callee-saved registers on the old stack and
// pops them from the new one, without the two signal-mask system calls of
// each swapcontext. The FP control words are not switched: no kernel changes
// them, and loading MXCSR serialises the pipeline. Elsewhere: ucontext.
#if defined(__x86_64__)
extern "C" void moe_simt_switch(void** save_sp, void* load_sp);
extern "C" void moe_simt_fiber_start();
asm(R"(
  .text
  .globl moe_simt_switch
  .type moe_simt_switch, @function
moe_simt_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size moe_simt_switch, .-moe_simt_switch

  .globl moe_simt_fiber_start
  .type moe_simt_fiber_start, @function
moe_simt_fiber_start:
  movq %r12, %rdi
  callq *%r13
  ud2
  .size moe_simt_fiber_start, .-moe_simt_fiber_start
)");
#endif

namespace moe::simt::detail {
namespace {
#if defined(__x86_64__)
struct Context {
  void* sp = nullptr;
  // The first switch to it "returns" into moe_simt_fiber_start, which calls
  // fn(arg) from r13 and r12 on a 16-byte aligned stack.
  void init(char* stack, size_t bytes, void (*fn)(void*), void* arg) {
    auto* top = reinterpret_cast<uint64_t*>((reinterpret_cast<uintptr_t>(stack) + bytes) & ~uintptr_t(15));
    top[-1] = reinterpret_cast<uint64_t>(&moe_simt_fiber_start);
    top[-2] = 0;                               // rbp: the end of the frame chain
    top[-3] = 0;                               // rbx
    top[-4] = reinterpret_cast<uint64_t>(arg);  // r12
    top[-5] = reinterpret_cast<uint64_t>(fn);   // r13
    top[-6] = 0;                               // r14
    top[-7] = 0;                               // r15
    sp = &top[-7];
  }
  static void swap(Context& from, Context& to) { moe_simt_switch(&from.sp, to.sp); }
};
#else
struct Context {
  ucontext_t uc{};
  void init(char* stack, size_t bytes, void (*fn)(void*), void* arg) {
    getcontext(&uc);
    uc.uc_stack.ss_sp = stack;
    uc.uc_stack.ss_size = bytes;
    uc.uc_link = nullptr;
    auto hi = [](uintptr_t v) { return unsigned(uint64_t(v) >> 32); };
    auto lo = [](uintptr_t v) { return unsigned(uint64_t(v) & 0xFFFFFFFFu); };
    const auto f = reinterpret_cast<uintptr_t>(fn), a = reinterpret_cast<uintptr_t>(arg);
    makecontext(&uc, reinterpret_cast<void (*)()>(&start), 4, hi(f), lo(f), hi(a), lo(a));
  }
  static void start(unsigned fh, unsigned fl, unsigned ah, unsigned al) {
    auto join = [](unsigned h, unsigned l) { return uintptr_t(uint64_t(h) << 32 | l); };
    reinterpret_cast<void (*)(void*)>(join(fh, fl))(reinterpret_cast<void*>(join(ah, al)));
  }
  static void swap(Context& from, Context& to) { swapcontext(&from.uc, &to.uc); }
};
#endif
}  // namespace
}  // namespace moe::simt::detail

namespace moe::simt {
using internal::fmt;

// ---- Blocks ------------------------------------------------------------------
namespace detail {
namespace {

constexpr uint64_t kPoison = 0xFFBADBADFFBADBADull;  // NaN as f32/f64: a value read from a lane not in the exchange
constexpr int kMaxThreads = 1024;

struct KernelAbort {};  // unwinds the threads of an aborted block

// The CUDA threads of a launch are fibers on the launching host thread (see
// FiberPool below). A waiting fiber yields until the 32-bit word it waits on
// differs from `seen`; whoever changes the word needs no wake-up call. The
// atomics give TSan the happens-before edges, since fiber switches are
// declared to it without synchronisation.
void wait_change(std::atomic<uint32_t>& word, uint32_t seen);
void bump(std::atomic<uint32_t>& word) { word.fetch_add(1, std::memory_order_release); }


enum class LaneState : uint8_t { kRunning, kBarrier, kWarp, kExited };

struct Lane {
  std::atomic<uint32_t> ticket{0};  // bumped to release the thread from a warp exchange
  LaneState state = LaneState::kRunning;
  int op = -1;  // index of the pending warp exchange while kWarp
  uint64_t value = 0;
  int param = 0, width = 32;
  uint64_t result = 0;
};

struct PendingOp {
  WarpOp kind;
  unsigned mask, arrived;
  int warp;
  bool used;
};

const char* op_name(WarpOp k) {
  switch (k) {
    case WarpOp::kSync: return "__syncwarp";
    case WarpOp::kShflIdx: return "__shfl_sync";
    case WarpOp::kShflUp: return "__shfl_up_sync";
    case WarpOp::kShflDown: return "__shfl_down_sync";
    case WarpOp::kShflXor: return "__shfl_xor_sync";
    case WarpOp::kBallot: return "__ballot_sync";
    case WarpOp::kAny: return "__any_sync";
    case WarpOp::kAll: return "__all_sync";
    case WarpOp::kReduceAddU: return "__reduce_add_sync";
    case WarpOp::kReduceMinU: case WarpOp::kReduceMinI: return "__reduce_min_sync";
    case WarpOp::kReduceMaxU: case WarpOp::kReduceMaxI: return "__reduce_max_sync";
    case WarpOp::kReduceAnd: return "__reduce_and_sync";
    case WarpOp::kReduceOr: return "__reduce_or_sync";
    case WarpOp::kReduceXor: return "__reduce_xor_sync";
    case WarpOp::kMatchAny: return "__match_any_sync";
    case WarpOp::kMatchAll: return "__match_all_sync";
  }
  return "?";
}
bool is_shfl(WarpOp k) {
  return k == WarpOp::kShflIdx || k == WarpOp::kShflUp || k == WarpOp::kShflDown || k == WarpOp::kShflXor;
}

// "0-3,7,9-31" for the set bits of a lane mask.
std::string lanes_str(unsigned m) {
  std::string s;
  for (int i = 0; i < 32;) {
    if (!(m >> i & 1u)) { ++i; continue; }
    int j = i;
    while (j + 1 < 32 && (m >> (j + 1) & 1u)) ++j;
    if (!s.empty()) s += ',';
    s += std::to_string(i);
    if (j > i) {
      s += '-';
      s += std::to_string(j);
    }
    i = j + 1;
  }
  return s.empty() ? "none" : s;
}

}  // namespace

// The synchronisation state of the block that is running. All of it is
// guarded by mu_, which no fiber holds across a yield. A waiting thread
// yields, without mu_, until a word changes: its own ticket in a warp
// exchange, the block's barrier or block-end generation.
class Block {
 public:
  Block(const LaunchConfig& cfg, int nthreads, unsigned char* smem)
      : cfg_(cfg), n_(nthreads), lanes_(new Lane[nthreads]), live_(nthreads), smem_(smem) {}

  unsigned char* smem() const { return smem_; }
  bool aborted() const { return aborted_.load(std::memory_order_acquire); }
  const std::string& message() const { return message_; }

  int barrier(int tid, int pred) {
    std::unique_lock lk(mu_);
    if (aborted()) throw KernelAbort{};
    Lane& me = lanes_[tid];
    me.state = LaneState::kBarrier;
    ++barrier_arrived_;
    barrier_count_ += pred != 0;
    ++waiting_;
    if (barrier_arrived_ == live_) {
      complete_barrier();
      return me.result;
    }
    return wait(lk, me, barrier_gen_);
  }

  uint64_t warp(int tid, WarpOp kind, unsigned mask, uint64_t value, int param, int width) {
    std::unique_lock lk(mu_);
    if (aborted()) throw KernelAbort{};
    const int w = tid / 32, lane = tid % 32;
    const unsigned bit = 1u << lane;
    // Each check aborts the block and unwinds this thread (lk unlocks).
    auto abort_with = [&](const std::string& msg) {
      fault_locked(tid, msg);
      throw KernelAbort{};
    };
    if (!(mask & bit))
      abort_with(fmt("%s with mask 0x%08x, which does not name the calling lane %d", op_name(kind), mask, lane));
    if (is_shfl(kind) && (width < 1 || width > 32 || (width & (width - 1)) != 0))
      abort_with(fmt("%s with width %d (a power of 2 in [1, 32])", op_name(kind), width));
    const unsigned required = mask & exists(w);
    if (const unsigned gone = required & exited(w))
      abort_with(fmt("%s(mask 0x%08x) names lane(s) %s, which exited", op_name(kind), mask, lanes_str(gone).c_str()));
    int idx = -1;
    for (int i = 0; i < int(ops_.size()); ++i) {
      const PendingOp& o = ops_[i];
      if (o.used && o.warp == w && o.kind == kind && o.mask == mask && !(o.arrived & bit)) idx = i;
    }
    if (idx < 0) {
      for (int i = 0; i < int(ops_.size()) && idx < 0; ++i)
        if (!ops_[i].used) idx = i;
      if (idx < 0) {
        idx = int(ops_.size());
        ops_.push_back({});
      }
      ops_[idx] = {kind, mask, 0, w, true};
    }
    PendingOp& op = ops_[idx];
    Lane& me = lanes_[tid];
    me.value = value;
    me.param = param;
    me.width = width;
    me.state = LaneState::kWarp;
    me.op = idx;
    op.arrived |= bit;
    ++waiting_;
    if (op.arrived == required) {
      complete_warp(op);
      return me.result;
    }
    return wait(lk, me, me.ticket);
  }

  unsigned active(int tid) {
    std::lock_guard lk(mu_);
    return exists(tid / 32) & ~exited(tid / 32);
  }

  // The thread's kernel body returned (or unwound). Waits for the block's other
  // threads unless this was the launch's last block (the launcher waits for
  // all); false when the block was aborted.
  bool finish(int tid, bool last_block) {
    std::unique_lock lk(mu_);
    Lane& me = lanes_[tid];
    me.state = LaneState::kExited;
    --live_;
    ++exited_;
    if (!aborted()) {
      const int w = tid / 32;
      const unsigned bit = 1u << (tid % 32);
      for (const PendingOp& o : ops_)
        if (o.used && o.warp == w && (o.mask & bit) && !(o.arrived & bit)) {
          fault_locked(tid, fmt("lane %d exited while lanes %s wait for it in %s(mask 0x%08x)", tid % 32,
                                lanes_str(o.arrived).c_str(), op_name(o.kind), o.mask));
          break;
        }
    }
    if (!aborted() && barrier_arrived_ > 0 && barrier_arrived_ == live_) complete_barrier();
    if (!aborted()) check_deadlock(tid);
    if (last_block) return false;
    if (exited_ == n_) {  // the block is done: set up the next one and release everyone
      for (int t = 0; t < n_; ++t) {
        lanes_[t].state = LaneState::kRunning;
        lanes_[t].op = -1;
      }
      live_ = n_;
      exited_ = 0;
      ops_.clear();
      bump(block_gen_);
      return !aborted();
    }
    const uint32_t seen = block_gen_.load(std::memory_order_relaxed);
    lk.unlock();
    wait_change(block_gen_, seen);
    return !aborted();
  }

  // Aborts the block with `msg` (mu_ not held); fault() also unwinds the caller.
  void record_fault(int tid, const std::string& msg) {
    std::lock_guard lk(mu_);
    fault_locked(tid, msg);
  }
  [[noreturn]] void fault(int tid, const std::string& msg) {
    record_fault(tid, msg);
    throw KernelAbort{};
  }

 private:
  unsigned exists(int w) const {
    const int k = std::min(32, n_ - w * 32);
    return k >= 32 ? ~0u : (1u << k) - 1;
  }
  unsigned exited(int w) const {
    unsigned m = 0;
    for (int l = 0; l < 32 && w * 32 + l < n_; ++l)
      if (lanes_[w * 32 + l].state == LaneState::kExited) m |= 1u << l;
    return m;
  }
  // Called with lk held after an arrival that completed nothing: yields until
  // `word` changes.
  uint64_t wait(std::unique_lock<std::mutex>& lk, Lane& me, std::atomic<uint32_t>& word) {
    check_deadlock(int(&me - lanes_.get()));
    if (aborted()) throw KernelAbort{};
    const uint32_t seen = word.load(std::memory_order_relaxed);
    lk.unlock();
    wait_change(word, seen);
    if (aborted()) throw KernelAbort{};
    return me.result;
  }

  // Sets the results of the threads at the barrier (or, aborting, just frees
  // them).
  void complete_barrier() {
    const int count = barrier_count_;
    for (int t = 0; t < n_; ++t)
      if (lanes_[t].state == LaneState::kBarrier) {
        lanes_[t].result = uint64_t(count);
        lanes_[t].state = LaneState::kRunning;
      }
    waiting_ -= barrier_arrived_;
    barrier_arrived_ = 0;
    barrier_count_ = 0;
    barrier_gen_.fetch_add(1, std::memory_order_release);
  }
  // Frees a thread from its warp exchange; the caller wakes it.
  void release_lane(int t, uint64_t result) {
    lanes_[t].result = result;
    lanes_[t].state = LaneState::kRunning;
    lanes_[t].op = -1;
    --waiting_;
    lanes_[t].ticket.fetch_add(1, std::memory_order_release);
  }

  void complete_warp(PendingOp& op) {
    const int base = op.warp * 32;
    const unsigned in = op.arrived;
    auto val = [&](int lane) { return lanes_[base + lane].value; };
    uint64_t common = 0;
    switch (op.kind) {
      case WarpOp::kBallot: case WarpOp::kAny: case WarpOp::kAll:
        for (int l = 0; l < 32; ++l)
          if ((in >> l & 1u) && val(l)) common |= 1u << l;
        if (op.kind == WarpOp::kAny) common = common != 0;
        if (op.kind == WarpOp::kAll) common = common == in;
        break;
      case WarpOp::kReduceAddU: case WarpOp::kReduceMinU: case WarpOp::kReduceMaxU: case WarpOp::kReduceMinI:
      case WarpOp::kReduceMaxI: case WarpOp::kReduceAnd: case WarpOp::kReduceOr: case WarpOp::kReduceXor: {
        bool first = true;
        uint32_t acc = 0;
        for (int l = 0; l < 32; ++l) {
          if (!(in >> l & 1u)) continue;
          const uint32_t v = uint32_t(val(l));
          if (first) { acc = v; first = false; continue; }
          switch (op.kind) {
            case WarpOp::kReduceAddU: acc += v; break;
            case WarpOp::kReduceMinU: acc = std::min(acc, v); break;
            case WarpOp::kReduceMaxU: acc = std::max(acc, v); break;
            case WarpOp::kReduceMinI: acc = uint32_t(std::min(int32_t(acc), int32_t(v))); break;
            case WarpOp::kReduceMaxI: acc = uint32_t(std::max(int32_t(acc), int32_t(v))); break;
            case WarpOp::kReduceAnd: acc &= v; break;
            case WarpOp::kReduceOr: acc |= v; break;
            default: acc ^= v; break;
          }
        }
        common = acc;
        break;
      }
      case WarpOp::kMatchAll: {
        int first = __builtin_ctz(in);
        common = in;
        for (int l = 0; l < 32; ++l)
          if ((in >> l & 1u) && val(l) != val(first)) common = 0;
        break;
      }
      default: break;
    }
    for (int l = 0; l < 32; ++l) {
      if (!(in >> l & 1u)) continue;
      uint64_t r = common;
      const Lane& me = lanes_[base + l];
      if (is_shfl(op.kind)) {
        // PTX shfl.sync: segments of `width` lanes; an out-of-segment source
        // gives the lane its own value.
        const int seg = 32 - me.width, lo = l & seg, b = me.param;
        int j = l;
        bool ok = true;
        switch (op.kind) {
          case WarpOp::kShflUp: j = l - b; ok = j >= lo; break;
          case WarpOp::kShflDown: j = l + b; ok = j <= (lo | (31 & ~seg)); break;
          case WarpOp::kShflXor: j = l ^ b; ok = j <= (lo | (31 & ~seg)); break;
          default: j = lo | (b & 31 & ~seg); break;
        }
        if (!ok || j < 0 || j > 31) j = l;
        r = (in >> j & 1u) ? val(j) : kPoison;
      } else if (op.kind == WarpOp::kMatchAny) {
        r = 0;
        for (int k = 0; k < 32; ++k)
          if ((in >> k & 1u) && val(k) == me.value) r |= 1u << k;
      }
      release_lane(base + l, r);
    }
    op.used = false;
  }

  void check_deadlock(int tid) {
    if (live_ == 0 || waiting_ != live_) return;
    std::string m = "deadlock: every live thread of the block waits and none can proceed";
    if (barrier_arrived_ > 0) m += fmt("; %d of %d live threads wait at __syncthreads", barrier_arrived_, live_);
    for (const PendingOp& o : ops_) {
      if (!o.used) continue;
      m += fmt("; warp %d: lanes %s wait in %s(mask 0x%08x) for lane(s)", o.warp, lanes_str(o.arrived).c_str(),
               op_name(o.kind), o.mask);
      // Every missing lane waits somewhere else: group them by where.
      const unsigned missing = o.mask & exists(o.warp) & ~o.arrived;
      std::vector<std::pair<std::string, unsigned>> where;
      for (int l = 0; l < 32; ++l) {
        if (!(missing >> l & 1u)) continue;
        const Lane& x = lanes_[o.warp * 32 + l];
        const std::string d = x.state == LaneState::kWarp
                                  ? fmt("in %s with mask 0x%08x: a different mask or intrinsic",
                                        op_name(ops_[x.op].kind), ops_[x.op].mask)
                                  : x.state == LaneState::kBarrier ? std::string("at __syncthreads")
                                                                   : std::string("exited");
        auto it = std::find_if(where.begin(), where.end(), [&](const auto& g) { return g.first == d; });
        if (it == where.end()) where.push_back({d, 1u << l});
        else it->second |= 1u << l;
      }
      for (const auto& [d, lanes] : where) m += fmt(" %s (%s)", lanes_str(lanes).c_str(), d.c_str());
    }
    fault_locked(tid, m);
  }

  void fault_locked(int tid, const std::string& msg) {
    if (aborted()) return;
    const uint3 t{unsigned(tid) % cfg_.block.x, unsigned(tid) / cfg_.block.x % cfg_.block.y,
                  unsigned(tid) / (cfg_.block.x * cfg_.block.y)};
    const uint3& b = t_ctx->block_idx;
    message_ = fmt("kernel %s, block (%u,%u,%u), thread (%u,%u,%u) [warp %d lane %d]: ", cfg_.name, b.x, b.y, b.z,
                   t.x, t.y, t.z, tid / 32, tid % 32) + msg;
    aborted_.store(true, std::memory_order_release);
    for (int i = 0; i < n_; ++i)
      if (lanes_[i].state == LaneState::kWarp) release_lane(i, 0);
    if (barrier_arrived_ > 0) complete_barrier();
    for (PendingOp& o : ops_) o.used = false;
  }

  const LaunchConfig cfg_;
  const int n_;
  std::unique_ptr<Lane[]> lanes_;
  std::mutex mu_;
  int live_, exited_ = 0, waiting_ = 0;
  int barrier_arrived_ = 0, barrier_count_ = 0;
  std::vector<PendingOp> ops_;
  std::atomic<bool> aborted_{false};
  std::atomic<uint32_t> barrier_gen_{0}, block_gen_{0};
  std::string message_;
  unsigned char* const smem_;
};

namespace {

struct Job {
  const LaunchConfig* cfg;
  KernelArgs* args;
  Block* block;

  void run_thread(int tid) {
    const LaunchConfig& c = *cfg;
    ThreadCtx& x = *t_ctx;
    x.block = block;
    x.tid = tid;
    x.block_dim = c.block;
    x.grid_dim = c.grid;
    x.thread_idx = {tid % c.block.x, tid / c.block.x % c.block.y, tid / (c.block.x * c.block.y)};
    const uint64_t nblocks = uint64_t(c.grid.x) * c.grid.y * c.grid.z;
    for (uint64_t b = 0; b < nblocks; ++b) {
      x.block_idx = {unsigned(b % c.grid.x), unsigned(b / c.grid.x % c.grid.y),
                     unsigned(b / (uint64_t(c.grid.x) * c.grid.y))};
      try {
        args->run();
      } catch (const KernelAbort&) {
      } catch (const std::exception& e) {
        block->record_fault(tid, std::string("exception thrown: ") + e.what());
      } catch (...) {
        block->record_fault(tid, "exception of unknown type thrown");
      }
      if (!block->finish(tid, b + 1 == nblocks)) break;
    }
    x = ThreadCtx{};
  }
};

// The CUDA threads of a launch run as fibers on the host thread that runs
// the launch: fiber t is threadIdx t of every block, and a switch is a
// context swap, not an OS wake-up (a block of 256 threads costs microseconds,
// not milliseconds). Each host thread that launches keeps its own fibers, so a
// fiber never moves between host threads; they are grown to the largest block
// and kept. The scheduler resumes the busy fibers round-robin; a fiber runs
// until it waits or finishes. TSan sees each fiber as a thread: switches are
// declared without synchronisation except a launch's first switch into a fiber
// and its last switch out, so races between CUDA threads are still reported.
class FiberPool {
 public:
  static FiberPool& local() {
    static thread_local FiberPool pool;
    return pool;
  }
  FiberPool() = default;
  FiberPool(const FiberPool&) = delete;
  FiberPool& operator=(const FiberPool&) = delete;
  ~FiberPool() {
    for (auto& f : fibers_) {
#ifdef MOE_SIMT_TSAN
      __tsan_destroy_fiber(f->tsan);
#endif
      munmap(f->map, kGuardBytes + kStackBytes);
    }
  }

  void run(int nthreads, Job* job) {
    while (int(fibers_.size()) < nthreads) add_fiber();
    [[maybe_unused]] Untracked untracked;
    job_ = job;
    for (int i = 0; i < nthreads; ++i) {
      Fiber& f = *fibers_[size_t(i)];
      f.busy = true;
      f.started = false;
      f.tctx = ThreadCtx{};
    }
    for (int busy = nthreads; busy > 0;) {
      bool progress = false;
      for (int i = 0; i < nthreads; ++i) {
        Fiber& f = *fibers_[size_t(i)];
        if (!f.busy) continue;
        resume(f);
        if (!f.busy) --busy;
        progress = progress || !f.busy || !f.idle;
      }
      if (!progress) {  // the block's deadlock check should have caught this first
        std::fprintf(stderr, "simt: internal error: %d threads of a launch wait and none can proceed\n", busy);
        std::abort();
      }
    }
    job_ = nullptr;
  }

  // From a fiber: back to the scheduler. `idle`: this resumption did nothing.
  void yield(bool idle) {
    Fiber& f = *current_;
    f.idle = idle;
#ifdef MOE_SIMT_TSAN
    __tsan_switch_to_fiber(sched_tsan_, f.busy ? __tsan_switch_to_fiber_no_sync : 0);
#endif
#ifdef MOE_SIMT_ASAN
    __sanitizer_start_switch_fiber(&f.fake_stack, sched_bottom_, sched_size_);
#endif
    Context::swap(f.ctx, sched_);
#ifdef MOE_SIMT_ASAN
    __sanitizer_finish_switch_fiber(f.fake_stack, &sched_bottom_, &sched_size_);
#endif
  }
  bool in_fiber() const { return current_ != nullptr; }

 private:
  // Hides the scheduler's accesses to the fibers' bookkeeping from TSan, which
  // would otherwise report them against the fibers' own.
  struct Untracked {
#ifdef MOE_SIMT_TSAN
    Untracked() { __tsan_ignore_thread_begin(); }
    ~Untracked() { __tsan_ignore_thread_end(); }
#endif
  };
  static constexpr size_t kStackBytes = 256 << 10;  // ASan's redzones need the room
  static constexpr size_t kGuardBytes = 4096;       // PROT_NONE below the stack: an overflow faults
  struct Fiber {
    FiberPool* pool = nullptr;
    int index = 0;
    void* map = nullptr;
    Context ctx;
    ThreadCtx tctx;
    bool busy = false;     // running its thread of the current launch
    bool started = false;  // resumed at least once in the current launch
    bool idle = false;     // its last resumption found its wait unchanged
#ifdef MOE_SIMT_TSAN
    void* tsan = nullptr;
#endif
#ifdef MOE_SIMT_ASAN
    void* fake_stack = nullptr;
#endif
    char* stack() const { return static_cast<char*>(map) + kGuardBytes; }
  };

  void add_fiber() {
    auto f = std::make_unique<Fiber>();
    f->pool = this;
    f->index = int(fibers_.size());
    f->map = mmap(nullptr, kGuardBytes + kStackBytes, PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (f->map == MAP_FAILED) {
      std::fprintf(stderr, "simt: cannot map a %zu-byte fiber stack for CUDA thread %d\n", kStackBytes, f->index);
      std::abort();
    }
    mprotect(f->map, kGuardBytes, PROT_NONE);
    f->ctx.init(f->stack(), kStackBytes, &FiberPool::entry, f.get());
#ifdef MOE_SIMT_TSAN
    f->tsan = __tsan_create_fiber(0);
#endif
    fibers_.push_back(std::move(f));
  }

  // Called untracked: the scheduler's bookkeeping is ordered with the fibers'
  // by the switches themselves.
  void resume(Fiber& f) {
    t_ctx = &f.tctx;
    current_ = &f;
#ifdef MOE_SIMT_TSAN
    if (sched_tsan_ == nullptr) sched_tsan_ = __tsan_get_current_fiber();
    __tsan_switch_to_fiber(f.tsan, f.started ? __tsan_switch_to_fiber_no_sync : 0);
#endif
    f.started = true;
#ifdef MOE_SIMT_ASAN
    __sanitizer_start_switch_fiber(&sched_fake_stack_, f.stack(), kStackBytes);
#endif
    Context::swap(sched_, f.ctx);
#ifdef MOE_SIMT_ASAN
    __sanitizer_finish_switch_fiber(sched_fake_stack_, nullptr, nullptr);
#endif
    current_ = nullptr;
    t_ctx = nullptr;
  }

  static void entry(void* arg) {
    Fiber* f = static_cast<Fiber*>(arg);
    FiberPool* pool = f->pool;
#ifdef MOE_SIMT_ASAN
    __sanitizer_finish_switch_fiber(nullptr, &pool->sched_bottom_, &pool->sched_size_);
#endif
    for (;;) {
      pool->job_->run_thread(f->index);
      f->busy = false;
      pool->yield(false);
    }
  }

  std::vector<std::unique_ptr<Fiber>> fibers_;
  Context sched_;
  Fiber* current_ = nullptr;
  Job* job_ = nullptr;
#ifdef MOE_SIMT_TSAN
  void* sched_tsan_ = nullptr;
#endif
#ifdef MOE_SIMT_ASAN
  void* sched_fake_stack_ = nullptr;
  const void* sched_bottom_ = nullptr;
  size_t sched_size_ = 0;
#endif
};

void wait_change(std::atomic<uint32_t>& word, uint32_t seen) {
  FiberPool& pool = FiberPool::local();
  if (!pool.in_fiber()) {
    std::fprintf(stderr, "simt: internal error: a wait outside a CUDA thread\n");
    std::abort();
  }
  bool first = true;
  while (word.load(std::memory_order_acquire) == seen) {
    pool.yield(!first);
    first = false;
  }
}

std::mutex g_launch_mu;  // one launch at a time: static __shared__ arrays are per process

Block& current_block(const char* what) {
  if (t_ctx == nullptr || t_ctx->block == nullptr) {
    std::fprintf(stderr, "simt: %s called outside a kernel\n", what);
    std::abort();
  }
  return *t_ctx->block;
}

}  // namespace

uint64_t warp_exchange(WarpOp op, unsigned mask, uint64_t value, int param, int width) {
  return current_block(op_name(op)).warp(t_ctx->tid, op, mask, value, param, width);
}
int block_barrier(int pred) { return current_block("__syncthreads").barrier(t_ctx->tid, pred); }
unsigned active_mask() { return current_block("__activemask").active(t_ctx->tid); }
unsigned char* dynamic_smem() { return current_block("dynamic shared memory").smem(); }
void trap(const char* what) { current_block(what).fault(t_ctx->tid, what); }

namespace {
// MOE_SIMT_PROFILE=1: launches, blocks and wall time per kernel name, printed
// at exit, to see where a slow SIM run spends its time.
struct Profile {
  struct Row {
    uint64_t launches = 0, blocks = 0;
    double seconds = 0;
  };
  std::map<std::string, Row> rows;
  ~Profile() {
    std::vector<std::pair<std::string, Row>> v(rows.begin(), rows.end());
    std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.second.seconds > b.second.seconds; });
    std::fprintf(stderr, "simt profile: %-48s %10s %10s %10s\n", "kernel", "launches", "blocks", "seconds");
    for (const auto& [name, r] : v)
      std::fprintf(stderr, "simt profile: %-48.48s %10llu %10llu %10.3f\n", name.c_str(),
                   (unsigned long long)r.launches, (unsigned long long)r.blocks, r.seconds);
  }
};
Profile* profile() {
  static Profile* p = [] {
    const char* e = std::getenv("MOE_SIMT_PROFILE");
    return e != nullptr && *e != '\0' && *e != '0' ? new Profile : nullptr;
  }();
  return p;
}
struct ProfileAtExit {
  ~ProfileAtExit() { delete profile(); }
} g_profile_at_exit;

// Runs a launch whose configuration was checked, in its stream's order.
void run_kernel(const LaunchConfig& cfg, KernelArgs* args) {
  std::lock_guard lk(g_launch_mu);
  const auto t0 = std::chrono::steady_clock::now();
  struct Record {
    const LaunchConfig& cfg;
    std::chrono::steady_clock::time_point t0;
    ~Record() {
      if (Profile* p = profile()) {
        Profile::Row& r = p->rows[cfg.name];
        ++r.launches;
        r.blocks += uint64_t(cfg.grid.x) * cfg.grid.y * cfg.grid.z;
        r.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      }
    }
  } record{cfg, t0};
  const int nthreads = int(cfg.block.x * cfg.block.y * cfg.block.z);
  // Exactly the requested bytes, so ASan sees an access past them.
  std::unique_ptr<unsigned char[]> smem(new unsigned char[cfg.smem_bytes]);
  std::memset(smem.get(), 0xFF, cfg.smem_bytes);
  Block block(cfg, nthreads, smem.get());
  Job job{&cfg, args, &block};
  FiberPool::local().run(nthreads, &job);
  if (block.aborted()) internal::report_fault("simt: kernel fault: " + block.message());
}
}  // namespace

void launch(const LaunchConfig& cfg, std::shared_ptr<KernelArgs> args) {
  using internal::fail;
  if (t_ctx != nullptr && t_ctx->block != nullptr)
    t_ctx->block->fault(t_ctx->tid, fmt("launch of %s from a kernel (dynamic parallelism is not supported)", cfg.name));
  const dim3 b = cfg.block, g = cfg.grid;
  const uint64_t nthreads = uint64_t(b.x) * b.y * b.z;
  if (b.x == 0 || b.y == 0 || b.z == 0 || b.x > 1024 || b.y > 1024 || b.z > 64 || nthreads > kMaxThreads) {
    fail(cudaErrorInvalidConfiguration,
         fmt("launch of %s: block (%u,%u,%u) = %llu threads; at most %d per block, x and y <= 1024, z <= 64", cfg.name,
             b.x, b.y, b.z, (unsigned long long)nthreads, kMaxThreads));
    return;
  }
  if (g.x == 0 || g.y == 0 || g.z == 0 || g.x > 2147483647u || g.y > 65535 || g.z > 65535) {
    fail(cudaErrorInvalidConfiguration,
         fmt("launch of %s: grid (%u,%u,%u); each dimension >= 1, x <= 2^31-1, y and z <= 65535", cfg.name, g.x, g.y,
             g.z));
    return;
  }
  const int smem_limit = internal::max_dynamic_smem(cfg.func);
  if (cfg.smem_bytes > size_t(smem_limit)) {
    fail(cudaErrorInvalidValue,
         fmt("launch of %s: %zu bytes of dynamic shared memory, over the kernel's limit of %d (raise it with "
             "cudaFuncSetAttribute(cudaFuncAttributeMaxDynamicSharedMemorySize), at most 232448)",
             cfg.name, cfg.smem_bytes, smem_limit));
    return;
  }
  (void)internal::submit(cfg.stream, cfg.name, [cfg, args = std::move(args)] { run_kernel(cfg, args.get()); });
}

}  // namespace detail
}  // namespace moe::simt
