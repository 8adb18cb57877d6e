#include "comm/watchdog.h"

#include <sched.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "comm/checks.h"
#include "comm/hang_exchange.h"
#include "comm/hang_report.h"
#include "comm/mpi_communicator.h"

namespace moe::comm {

namespace {

using Clock = std::chrono::steady_clock;

// A wait this long may be one a timed-out peer asks about; answering costs
// one MPI_Improbe per 20 ms, and nothing before.
constexpr auto kServeAfter = std::chrono::milliseconds(100);
constexpr auto kServeEvery = std::chrono::milliseconds(20);

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

// This rank's position while it waits at `site`.
Position position_of(const WaitSite& site, const Communicator& c, double waited_s) {
  Position p;
  p.world_rank = c.world_rank_of(c.rank());
  p.group = group_mark(c);
  p.group_rank = c.rank();
  p.op = site.op;
  p.seq = site.seq;
  if (site.peer >= 0) {
    p.peer_world_rank = c.world_rank_of(site.peer);
    p.tag = site.tag;
  }
  p.waited_s = waited_s;
  p.groups = live_groups();
  return p;
}

double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

[[noreturn]] void time_out(const WaitSite& site, const Communicator& c, Clock::time_point start) {
  const double waited = seconds(Clock::now() - start);
  const Position me = position_of(site, c, waited);
  // A group of one has nobody to blame (and its ops never wait).
  const std::vector<Position> answers =
      c.size() > 1 ? gather_positions(me, start, report_grace_s(c.timeout_s())) : std::vector<Position>{};
  std::vector<int> members(size_t(c.size()));
  for (int r = 0; r < c.size(); ++r) members[size_t(r)] = c.world_rank_of(r);
  const std::vector<std::string>& hosts = world_hosts();
  abort_job(timeout_message(site, c, waited, missing_report(me, members, answers, hosts, int(hosts.size()))));
}

}  // namespace

double report_grace_s(double timeout_s) { return std::clamp(timeout_s, 0.5, 3.0); }

std::string timeout_message(const WaitSite& site, const Communicator& c, double waited_s,
                            const std::string& analysis) {
  char secs[32];
  std::snprintf(secs, sizeof secs, "%.1f", waited_s);
  const std::string number = site.peer >= 0 ? ", send/recv " + std::to_string(site.seq) + " of this rank"
                                            : ", collective " + std::to_string(site.seq);
  return where(site.op, c) + number + " waited " + secs +
         " s (timeout; set by MOE_COMM_TIMEOUT_S, parallel.comm_timeout_s or set_timeout_s): " +
         (analysis.empty() ? "a peer rank crashed, hangs, or called the collectives in another order" : analysis) +
         "; aborting the job";
}

void watched_wait(const std::function<bool()>& done, const WaitSite& site, const Communicator& c) {
  const Clock::time_point start = Clock::now();
  const auto timeout = std::chrono::duration<double>(c.timeout_s());
  Clock::time_point next_serve = start + kServeAfter;
  Backoff backoff;
  while (!done()) {
    const Clock::time_point now = Clock::now();
    const Clock::duration waited = now - start;
    if (waited > timeout) time_out(site, c, start);
    if (now >= next_serve) {
      serve_hang_queries([&] { return position_of(site, c, seconds(waited)); });
      next_serve = now + kServeEvery;
    }
    backoff.pause(waited);
  }
}

}  // namespace moe::comm
