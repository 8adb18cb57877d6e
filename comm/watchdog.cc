#include "comm/watchdog.h"

#include <sched.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "comm/checks.h"
#include "comm/mpi_communicator.h"

namespace moe::comm {

namespace {

using Clock = std::chrono::steady_clock;

// Tight polls first (most collectives finish within microseconds), then
// yields for about a millisecond, then sleeps of 10 us doubling to 200 us:
// the added latency stays small while idle ranks stop competing for cores.
class Backoff {
 public:
  void pause(Clock::duration waited) {
    if (++polls_ <= kSpinPolls) return;
    if (waited < std::chrono::milliseconds(1)) {
      sched_yield();
      return;
    }
    timespec ts{0, sleep_ns_};
    nanosleep(&ts, nullptr);
    sleep_ns_ = std::min<long>(sleep_ns_ * 2, kMaxSleepNs);
  }

 private:
  static constexpr int kSpinPolls = 64;
  // Short: MPI makes no progress while we sleep, and a peer arriving
  // mid-sleep is noticed only when we wake (200 us cost ~100 us per late
  // collective in moe-bench alltoall --skew-us).
  static constexpr long kMaxSleepNs = 50'000;
  int polls_ = 0;
  long sleep_ns_ = 10'000;
};

}  // namespace

std::string timeout_message(const char* op, const Communicator& c, double waited_s) {
  char secs[32];
  std::snprintf(secs, sizeof secs, "%.1f", waited_s);
  return where(op, c) + " waited " + secs +
         " s (timeout; set by MOE_COMM_TIMEOUT_S or set_timeout_s): a peer rank crashed, hangs, or called "
         "the collectives in another order; aborting the job";
}

void watched_wait(const std::function<bool()>& done, const char* op, const Communicator& c) {
  const Clock::time_point start = Clock::now();
  const auto timeout = std::chrono::duration<double>(c.timeout_s());
  Backoff backoff;
  while (!done()) {
    const Clock::duration waited = Clock::now() - start;
    if (waited > timeout)
      abort_job(timeout_message(op, c, std::chrono::duration<double>(waited).count()));
    backoff.pause(waited);
  }
}

}  // namespace moe::comm
